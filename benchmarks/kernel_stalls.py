"""How often does a kernel stall under notebook execution? (ipykernel versions side by side)

Executes a notebook that behaves like our chapters (JAX work on every core, tqdm
progress bars, prints, matplotlib figures) again and again through nbclient under
the stall watchdog of ``kellynotes.execution``, for a fixed wall-clock budget, with
the kernel run by the Python interpreter given (so that two virtual environments
holding different ipykernel versions can be compared with the same client). Each
stall is counted, with the kernel status messages that had arrived for the stalled
cell ("busy, idle": the kernel ran the cell and its reply was lost; "none": the
request never reached it), and the run continues with a fresh kernel.

    .venv/bin/python benchmarks/kernel_stalls.py --python .venv/bin/python --minutes 7
    .venv/bin/python benchmarks/kernel_stalls.py --python /tmp/ipykernel7/bin/python --minutes 7
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import nbformat

from kellynotes import execution

CELLS = [
    "import jax, jax.numpy as jnp, numpy as np, matplotlib.pyplot as plt\n"
    "from tqdm.auto import tqdm\n"
    "step = jax.jit(lambda a: jnp.tanh(a @ a.T / 256.0) @ a)",
    # ~1 s of multi-threaded work with a progress bar updated often, as training does.
    "a = jnp.ones((512, 512))\n"
    "for _ in tqdm(range(60), desc='training'):\n"
    "    a = step(a).block_until_ready()\n"
    "print(float(a.mean()))",
    "fig, ax = plt.subplots(figsize=(3, 2))\n"
    "ax.plot(np.linspace(0, 1, 100) ** 2)\n"
    "plt.show()",
    "print('\\n'.join(str(i) for i in range(200)))",
]


def chapter_like_notebook(repeats: int):
    cells = [nbformat.v4.new_code_cell(CELLS[0])]
    for _ in range(repeats):
        cells += [nbformat.v4.new_code_cell(source) for source in CELLS[1:]]
    return nbformat.v4.new_notebook(cells=cells)


def kernel_versions(python: str) -> dict:
    code = ("import json, ipykernel, zmq, jupyter_client;"
            "print(json.dumps({'ipykernel': ipykernel.__version__, 'pyzmq': zmq.__version__,"
            " 'libzmq': zmq.zmq_version()}))")
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the kernel")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget")
    parser.add_argument("--repeats", type=int, default=25, help="cell groups per notebook run")
    parser.add_argument("--stall-timeout", type=float, default=30.0, help="watchdog seconds")
    args = parser.parse_args()

    versions = kernel_versions(args.python)
    with tempfile.TemporaryDirectory() as prefix:
        subprocess.run([args.python, "-m", "ipykernel", "install", "--prefix", prefix, "--name", "stalltest"],
                       check=True, capture_output=True)
        os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
        deadline = time.monotonic() + 60 * args.minutes
        cells = stalls = runs = 0
        seen = []
        while time.monotonic() < deadline:
            notebook = chapter_like_notebook(args.repeats)
            runs += 1
            try:
                execution.execute(notebook, kernel_name="stalltest", timeout=600,
                                  stall_timeout=args.stall_timeout)
            except execution.KernelStallError as error:
                stalls += 1
                seen.append(error.diagnosis)
                print(f"stall: {error}", flush=True)
            cells += sum(1 for cell in notebook.cells if cell.get("execution_count"))
            print(f"run {runs}: {cells} cells, {stalls} stalls", flush=True)
    print()
    print("| ipykernel | pyzmq | libzmq | notebook runs | cells executed | stalls | status seen at each stall |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {versions['ipykernel']} | {versions['pyzmq']} | {versions['libzmq']} | {runs} | {cells} | "
          f"{stalls} | {'; '.join(seen) or '-'} |")


if __name__ == "__main__":
    main()
