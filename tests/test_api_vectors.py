"""estimate_mutual_information on vectors: the held-out split, the marginal maps, the two modes and
clear errors (the exact Gaussian accuracy of the default mode is in test_estimators_exact.py)."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from helpers import SDE

import kellynotes
from kellynotes import api, baseline, entropy, gaussian, marginals

QUICK = entropy.TrainConfig(steps=300, batch_size=128, progress=False)
TINY = api.VectorInformationConfig(train=QUICK, num_samples=4096, rate_points=4)


def gaussian_information(x, y) -> float:
    """I(X;Y) of the Gaussian with the sample covariance of (x, y): 1/2 log(det C_xx det C_yy / det C)."""
    c, dx = np.cov(np.hstack([x, y]).T), x.shape[1]
    return 0.5 * (np.linalg.slogdet(c[:dx, :dx])[1] + np.linalg.slogdet(c[dx:, dx:])[1] - np.linalg.slogdet(c)[1])


class TestSplit:
    def test_disjoint_complete_and_sized(self):
        split = api.split_pairs(1000, jax.random.key(0), held_out_fraction=0.2, validation_fraction=0.1)
        assert (split.train.size, split.validation.size, split.held_out.size) == (700, 100, 200)
        everything = np.concatenate([split.train, split.validation, split.held_out])
        np.testing.assert_array_equal(np.sort(everything), np.arange(1000))

    def test_reproducible_per_key(self):
        a, b = api.split_pairs(500, jax.random.key(3)), api.split_pairs(500, jax.random.key(3))
        c = api.split_pairs(500, jax.random.key(4))
        for part in ("train", "validation", "held_out"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
        assert not np.array_equal(a.held_out, c.held_out)

    @pytest.mark.parametrize("parts, message", [
        (([0, 1, 2], [], [2, 3]), "disjoint"),
        (([0, 1], [], [5000]), "outside"),
        (([0, 1], [], []), "held_out is empty"),
        (([0, 0, 1], [], [3]), "repeats"),
        (([0.5, 1.0], [], [3]), "integer indices"),
    ])
    def test_bad_splits_are_named(self, parts, message):
        with pytest.raises(ValueError, match=message):
            api.PairSplit(*(np.asarray(p) for p in parts)).check(100)

    @pytest.mark.parametrize("kwargs, message", [
        (dict(held_out_fraction=0.0), "held_out_fraction"),
        (dict(held_out_fraction=0.5, validation_fraction=0.5), "validation_fraction"),
    ])
    def test_bad_fractions(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            api.split_pairs(100, jax.random.key(0), **kwargs)
        with pytest.raises(ValueError, match=message):
            api.VectorInformationConfig(**kwargs)

    def test_the_estimate_uses_the_split_it_is_given(self):
        x = np.random.default_rng(0).normal(size=(400, 2))
        y = x[:, :1] + np.random.default_rng(1).normal(size=(400, 1))
        split = api.PairSplit(np.arange(0, 300), np.arange(300, 340), np.arange(340, 400))
        result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=TINY, split=split)
        np.testing.assert_array_equal(result.split.held_out, np.arange(340, 400))
        assert result.settings["split_sizes"] == dict(train=300, validation=40, held_out=60)
        # one validation loss before training and one per compiled call; each network keeps the weights of its minimum
        assert len(result.training) == 1  # the default: one network with label dropout
        for training in result.training:
            np.testing.assert_array_equal(training.validation_steps, np.concatenate([[0], training.loss_steps]))
            assert training.selected_step == training.validation_steps[np.argmin(training.validation_loss)]


class TestMarginals:
    def test_copula_leaves_gaussian_information_unchanged(self):
        g = gaussian.full_rank(jax.random.key(0), dim_x=3, dim_y=2, noise_std=1.0)
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(10), 20_000))
        warped_x, warped_y = marginals.rank_gaussianize(np.exp(x)), marginals.rank_gaussianize(y**3 + y)
        copula = gaussian_information(warped_x, warped_y)
        # Same sample, so only the empirical rank map differs from the true normal CDF: measured within
        # 0.001 nats of the untransformed sample's value over 5 Gaussians; 0.005 leaves a margin.
        assert abs(copula - gaussian_information(x, y)) < 0.005
        # Against the exact I (1.52 nats): sampling error of N = 20,000 pairs, measured up to 0.023.
        assert abs(copula - gaussian.mutual_information(g)) < 0.05

    def test_copula_marginals_are_standard_normal(self):
        z = marginals.rank_gaussianize(np.random.default_rng(0).standard_t(2, size=(10_000, 2)))
        # the normal scores of 1..N: mean exactly 0, variance 1 - O(log N / N)
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(z.var(axis=0), 1.0, atol=2e-3)

    def test_ties_share_one_value_and_keep_the_order(self):
        column = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 3.0])[:, None]
        z = marginals.rank_gaussianize(column)[:, 0]
        for value in (1.0, 2.0, 3.0):
            assert np.unique(z[column[:, 0] == value]).size == 1
        # a discrete column stays discrete: one value per atom, in the same order
        atoms = [z[column[:, 0] == value][0] for value in (1.0, 2.0, 3.0)]
        assert atoms == sorted(atoms) and len(set(atoms)) == 3

    def test_constant_columns_are_named(self):
        x = np.random.default_rng(0).normal(size=(50, 3))
        x[:, 1] = 2.0
        for kind in ("standardize", "rank_gaussian"):
            with pytest.raises(ValueError, match=r"constant columns \[1\]"):
                marginals.transform(x, kind, "x")

    def test_whitening_leaves_gaussian_information_unchanged(self):
        # A flattened Gaussian (40 of 50 variances 1e-3): whitening is an invertible linear map of x (and
        # one of y), so the Gaussian information of the sample covariance is unchanged up to round-off
        # of float64 eigendecompositions of matrices with condition number ~1e4 (measured 1e-11).
        g = gaussian.flattened(jax.random.key(1), dim_x=50, dim_y=8, k=10, lambda_delta=1e-3, noise_std=1.0)
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(2), 5_000))
        wx, wy = marginals.whiten(x, "x"), marginals.whiten(y, "y")
        assert gaussian_information(wx, wy) == pytest.approx(gaussian_information(x, y), abs=1e-8)
        # and the whitened sample is isotropic: its (biased, 1/N) covariance is the identity; the floor
        # 1e-10 changes eigenvalues >= 1e-3 of the largest by < 1e-7 relative
        np.testing.assert_allclose(np.cov(wx.T, bias=True), np.eye(50), atol=1e-6)
        np.testing.assert_allclose(wx.mean(axis=0), 0.0, atol=1e-10)

    def test_whitening_keeps_a_degenerate_direction_finite(self):
        # a column that is an exact combination of others: a zero eigenvalue, floored, not divided by
        x = np.random.default_rng(0).normal(size=(1000, 3))
        x = np.hstack([x, x[:, :1] - x[:, 1:2]])
        z = marginals.whiten(x, "x")
        assert np.all(np.isfinite(z))
        # along the null direction (1, -1, 0, -1)/sqrt(3) z stays at round-off (measured std 2e-11) instead
        # of being scaled up to unit variance; across it z is white
        null = np.array([1.0, -1.0, 0.0, -1.0]) / np.sqrt(3.0)
        assert np.std(z @ null) < 1e-6
        np.testing.assert_allclose(np.linalg.eigvalsh(np.cov(z.T, bias=True))[1:], 1.0, rtol=1e-6)

    def test_whitening_leaves_uncorrelated_data_on_their_axes(self):
        # ZCA whitening: for data with a diagonal covariance it is the per-column standardisation up to
        # the sample correlations, of order N^-1/2 = 0.01, so each whitened column keeps a correlation of
        # 1 - O(1e-4) with its standardised self (measured > 0.9998); a rotation would mix the columns
        x = np.random.default_rng(0).normal(size=(10_000, 5)) * np.arange(1.0, 6.0)
        z, standard = marginals.whiten(x, "x"), marginals.standardize(x, "x")
        correlations = [np.corrcoef(z[:, j], standard[:, j])[0, 1] for j in range(5)]
        assert min(correlations) > 0.999

    def test_flattened_is_the_thinnest_direction_of_the_correlation(self):
        rng = np.random.default_rng(0)
        wide = rng.normal(size=(20_000, 3))
        # exact: three independent columns, smallest correlation eigenvalue 1 - O(N^-1/2)
        assert marginals.smallest_correlation_eigenvalue(wide) == pytest.approx(1.0, abs=0.05)
        assert marginals.smallest_correlation_eigenvalue(wide[:, :1]) == 1.0
        # a direction with variance 0.01 against unit columns: eigenvalue of the correlation matrix
        # ~0.01 (sampling error ~1e-3), far below the threshold 0.15; 0.3 of unit variance is above it
        for variance, flattened in ((0.01, True), (0.3, False)):
            thin = np.sqrt(variance / 2) * rng.normal(size=20_000)
            pair = np.stack([wide[:, 0] + thin, wide[:, 0] - thin], axis=1)  # variance (1 ± ...) along (1, ±1)
            assert marginals.is_flattened(pair) is flattened

    def test_auto_whitens_only_flattened_variables(self):
        g = gaussian.flattened(jax.random.key(1), dim_x=6, dim_y=2, k=2, lambda_delta=1e-3, noise_std=1.0)
        x, y = (np.asarray(a) for a in g.sample(jax.random.key(2), 1000))
        result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=TINY)
        assert TINY.whiten == "auto" and result.settings["whitened"] == dict(x=True, y=False)
        forced = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0),
                                                        config=dataclasses.replace(TINY, whiten=False))
        assert forced.settings["whitened"] == dict(x=False, y=False)
        with pytest.raises(ValueError, match="whiten must be True, False or 'auto'"):
            api.VectorInformationConfig(whiten="no")

    @pytest.mark.parametrize("array, message", [
        (np.ones((10, 2)), "constant"),
        (np.zeros((3, 5)), "more rows than columns"),
        (np.zeros(10), "more rows than columns"),
    ])
    def test_whitening_errors_are_named(self, array, message):
        with pytest.raises(ValueError, match=message):
            marginals.whiten(array, "x")

    def test_unknown_transform(self):
        with pytest.raises(ValueError, match="marginals must be one of"):
            marginals.transform(np.zeros((5, 1)), "copula")
        with pytest.raises(ValueError, match="marginals must be one of"):
            api.VectorInformationConfig(marginals="copula")


def test_two_networks_agree_with_one_on_a_full_rank_gaussian():
    g = gaussian.full_rank(jax.random.key(4), dim_x=3, dim_y=2, noise_std=1.0)
    x, y = (np.asarray(a) for a in g.sample(jax.random.key(5), 4000))
    train = entropy.TrainConfig(steps=1000, batch_size=512, progress=False)
    values = {}
    for networks in ("one", "two"):
        config = api.VectorInformationConfig(train=train, networks=networks, num_samples=50_000, rate_points=4)
        values[networks] = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=config)
    one, two, truth = values["one"], values["two"], gaussian.mutual_information(g)
    assert len(one.training) == 1 and len(two.training) == 2
    assert isinstance(two.field, entropy.PairedEntropyField)
    # Measured at 1000 steps: one network -9 %, two networks -6 % of the truth (0.184 nats), each
    # with s.e. 0.002; 15 % of the truth bounds that training bias, and the two modes must agree
    # to within 10 % of it plus 4 combined standard errors.
    for result in (one, two):
        assert abs(result.value - truth) < 0.15 * truth + 4 * result.stderr
    assert abs(one.value - two.value) < 0.1 * truth + 4 * np.hypot(one.stderr, two.stderr)


def test_residual_body_estimates_a_full_rank_gaussian():
    g = gaussian.full_rank(jax.random.key(4), dim_x=3, dim_y=2, noise_std=1.0)
    x, y = (np.asarray(a) for a in g.sample(jax.random.key(5), 4000))
    train = entropy.TrainConfig(steps=2000, batch_size=512, learning_rate=1e-3, residual=True, progress=False)
    config = api.VectorInformationConfig(train=train, baseline="none", num_samples=50_000, rate_points=4)
    result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=config)
    truth = gaussian.mutual_information(g)
    assert result.training[0].model.network.residual
    # Measured at 2000 steps and learning rate 1e-3: -10.5 % of the truth (0.184 nats) with the residual
    # body, -10.9 % with the plain MLP (s.e. 0.002): the same training bias. 15 % of the truth bounds it;
    # a body that learnt nothing gives 0.
    assert abs(result.value - truth) < 0.15 * truth + 4 * result.stderr


@pytest.mark.parametrize("seed", [6, 7])
def test_whitened_estimate_of_a_flattened_gaussian(seed):
    # D_X = 6 with 4 thin directions of variance 1e-4 (I = 0.88 and 0.37 nats for the two seeds).
    g = gaussian.flattened(jax.random.key(seed), dim_x=6, dim_y=2, k=2, lambda_delta=1e-4, noise_std=1.0)
    x, y = (np.asarray(a) for a in g.sample(jax.random.key(5), 4000))
    config = api.VectorInformationConfig(train=entropy.TrainConfig(steps=1000, batch_size=512, progress=False),
                                         whiten=True, num_samples=50_000, rate_points=4)
    result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=config)
    truth = gaussian.mutual_information(g)
    # Measured at 1000 steps: +2.5 % and +6.3 % (s.e. 0.011, 0.005); without whitening -27 % and -2 %.
    # The bound is the training-bias allowance of the test above, 15 % of the truth plus 4 standard errors.
    assert abs(result.value - truth) < 0.15 * truth + 4 * result.stderr
    assert result.settings["config"]["whiten"] is True


class TestGaussianBaseline:
    def test_an_undertrained_network_loses_to_the_gaussian_candidate(self):
        """300 steps of batch 128 learn little of a 6 + 6 dimensional Gaussian; the Gaussian fitted to the
        training pairs must win on validation, and then MINDE on held-out pairs is that of a fitted
        Gaussian: the exact I up to the fit's error (ridge shrinkage and ~D_X D_Y / 2N = 0.005 nats of
        sampling bias, each well under 5 % of I here) and Monte Carlo error."""
        g = gaussian.full_rank(jax.random.key(11), dim_x=6, dim_y=6, noise_std=1.5)
        x, y = (np.asarray(a) for a in g.sample(jax.random.key(12), 5000))
        truth = gaussian.mutual_information(g, SDE, s_min=QUICK.s_min)
        results = {choice: kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(TINY, baseline=choice, num_samples=50_000))
            for choice in ("candidate", "none")}
        fit = results["candidate"].settings["gaussian_baseline"]
        assert fit["used"] is True and fit["validation_loss"][0][1] < fit["validation_loss"][0][0]
        assert results["none"].settings["gaussian_baseline"] is None
        held_out = results["candidate"].held_out_estimate
        assert abs(held_out.value - truth) < 0.05 * truth + 4 * held_out.stderr
        # the network alone, at this budget, is much further off: what the candidate is for
        assert abs(results["none"].value - truth) > 2 * abs(held_out.value - truth)
        # the value is the kept Gaussian's information in closed form, an unbiased estimate of the whole I
        # (not cut at s_min): within 4 of its standard errors, which count the sampling of the pairs
        assert results["candidate"].value == fit["closed_form"]["value"]
        assert abs(results["candidate"].value - gaussian.mutual_information(g)) < 4 * results["candidate"].stderr
        assert results["none"].value == results["none"].held_out_estimate.value
        minde = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=dataclasses.replace(
            TINY, num_samples=50_000, gaussian_estimate="minde"))
        assert minde.value == held_out.value and "closed_form" not in minde.settings["gaussian_baseline"]
        with pytest.raises(ValueError, match="gaussian_estimate must be one of"):
            api.VectorInformationConfig(gaussian_estimate="plug_in")

    def test_an_untrained_network_does_not_compete(self):
        """300 pairs of a 10 + 10 Gaussian (I = 5 log 1.09 = 0.431 nats): every training step raises the
        validation loss, so the weights kept are the untrained ones, the zero field (measured: selected step
        0, its loss 0.46 below the Gaussian's, s.e. 0.38, on 30 validation pairs). That field has no
        information, yet by the margin rule alone it would win; the Gaussian must be kept instead, and the
        result must say why."""
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 10))
        y = 0.3 * x + rng.normal(size=(300, 10))
        truth = 5 * np.log(1.09)
        result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=TINY)
        fit = result.settings["gaussian_baseline"]
        assert result.training[0].selected_step == 0
        assert fit["difference"][0] < -fit["stderr"][0]  # what the margin rule alone would have kept
        assert fit["used"] is True and result.value == fit["closed_form"]["value"]
        # the closed form on 300 pairs: within 4 of its standard errors (measured 0.453 ± 0.060)
        assert abs(result.value - truth) < 4 * result.stderr
        assert len(result.warnings) == 1 and "untrained weights" in result.warnings[0]
        assert "used in its place" in result.warnings[0]
        alone = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0),
                                                       config=dataclasses.replace(TINY, baseline="none"))
        assert alone.training[0].selected_step == 0 and alone.value == 0.0  # the zero field's MINDE
        assert any("not an estimate" in warning for warning in alone.warnings)

    def test_the_closed_form_is_not_reported_as_overfitting(self):
        """600 pairs of a 20 + 20 Gaussian: the Gaussian is kept, and MINDE of its ridge-shrunk field reads
        lower on the training pairs than on held-out ones (measured 0.654 ± 0.019 against 0.788 ± 0.033,
        3.5 combined standard errors apart),
        which the disagreement check reports as overfitting where MINDE is the value. The closed form,
        the value by default, reads neither, so then that is not reported."""
        rng = np.random.default_rng(0)
        x = rng.normal(size=(600, 20))
        y = 0.3 * x + rng.normal(size=(600, 20))
        results = {choice: kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(TINY, gaussian_estimate=choice))
            for choice in ("closed_form", "minde")}
        train, held_out = results["minde"].train_estimate, results["minde"].held_out_estimate
        assert results["minde"].settings["gaussian_baseline"]["used"] is True
        assert abs(train.value - held_out.value) > api.DISAGREEMENT_Z * np.hypot(train.stderr, held_out.stderr)
        assert any("overfitting" in warning for warning in results["minde"].warnings)
        assert results["closed_form"].settings["gaussian_baseline"]["used"] is True
        assert not any("overfitting" in warning for warning in results["closed_form"].warnings)

    def test_two_networks_each_compete_with_their_branch(self):
        x = np.random.default_rng(0).normal(size=(400, 2))
        y = x[:, :1] + np.random.default_rng(1).normal(size=(400, 1))
        result = kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(TINY, networks="two", baseline="candidate"))
        fit = result.settings["gaussian_baseline"]
        assert len(fit["used"]) == 2 and len(fit["validation_loss"]) == 2
        assert isinstance(result.field, entropy.PairedEntropyField)
        for used, (network_loss, gaussian_loss), difference, stderr, model in zip(
                fit["used"], fit["validation_loss"], fit["difference"], fit["stderr"],
                (result.field.conditional, result.field.unconditional)):
            # the mean of the per-pair differences is the difference of the mean losses (float rounding)
            assert difference == pytest.approx(network_loss - gaussian_loss, rel=1e-6, abs=1e-9)
            assert used == (not difference < -TINY.baseline_margin * stderr)
            assert isinstance(model.network, baseline.GaussianBaseline) == used

    def test_the_network_must_win_by_the_margin(self):
        """y carries a quadratic dependence that no Gaussian sees, so the network wins on validation;
        with margin 0 it is used, with a margin beyond any difference the Gaussian is."""
        x = np.random.default_rng(0).normal(size=(2000, 1))
        y = x**2 + 0.2 * np.random.default_rng(1).normal(size=(2000, 1))
        config = dataclasses.replace(TINY, train=dataclasses.replace(QUICK, steps=1000, batch_size=256))
        results = {margin: kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(config, baseline_margin=margin))
            for margin in (0.0, 1e9)}
        fits = {margin: result.settings["gaussian_baseline"] for margin, result in results.items()}
        assert fits[0.0]["difference"] == fits[1e9]["difference"]  # same network, pairs and draws
        assert fits[0.0]["difference"][0] < -4 * fits[0.0]["stderr"][0]
        assert fits[0.0]["used"] is False and fits[1e9]["used"] is True
        assert results[1e9].value < results[0.0].value  # the Gaussian misses most of this I
        with pytest.raises(ValueError, match="baseline_margin must be >= 0"):
            api.VectorInformationConfig(baseline_margin=-1.0)

    def test_gaussian_patience_stops_only_a_network_behind_the_gaussian(self):
        """A 6 + 6 dimensional Gaussian: the fitted Gaussian is the right family and the small network
        stays behind it on validation (measured: 54.3 against 52.3 nats), so 100 steps after its lowest
        it stops (measured: at step 400 of 3,000, kept step 300). On the quadratic dependence of the test
        above the network passes the Gaussian early and then trains all its steps, however long its stalls."""
        g = gaussian.full_rank(jax.random.key(11), dim_x=6, dim_y=6, noise_std=1.5)
        x, y = (np.asarray(a) for a in g.sample(jax.random.key(12), 5000))
        train = dataclasses.replace(QUICK, steps=3000, batch_size=64, steps_per_call=50)
        result = kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(TINY, train=train, gaussian_patience=100))
        run = result.training[0]
        assert result.settings["gaussian_baseline"]["used"] is True
        assert run.validation_loss.min() > run.competitor_validation_loss
        assert run.loss_steps[-1] < train.steps and run.loss_steps[-1] - run.selected_step >= 100
        x = np.random.default_rng(0).normal(size=(2000, 1))
        y = x**2 + 0.2 * np.random.default_rng(1).normal(size=(2000, 1))
        train = dataclasses.replace(QUICK, steps=1000, batch_size=256, steps_per_call=50)
        result = kellynotes.estimate_mutual_information(
            x, y, key=jax.random.key(0), config=dataclasses.replace(TINY, train=train, gaussian_patience=50))
        run = result.training[0]
        assert run.validation_loss.min() < run.competitor_validation_loss
        assert run.loss_steps[-1] == train.steps and result.settings["gaussian_baseline"]["used"] is False
        with pytest.raises(ValueError, match="gaussian_patience must be a positive number of steps"):
            api.VectorInformationConfig(gaussian_patience=0)
        with pytest.raises(ValueError, match="not both"):
            api.VectorInformationConfig(train=dataclasses.replace(QUICK, patience=100))

    def test_residual_trains_over_the_baseline(self):
        x = np.random.default_rng(0).normal(size=(400, 2))
        y = x[:, :1] + np.random.default_rng(1).normal(size=(400, 1))
        result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0),
                                                        config=dataclasses.replace(TINY, baseline="residual"))
        assert isinstance(result.training[0].model.network, baseline.ResidualNetwork)
        assert result.settings["gaussian_baseline"]["used"] is False  # not a candidate: the sum is used

    def test_labels_get_no_baseline_and_bad_names_are_refused(self):
        x = np.random.default_rng(0).normal(size=(400, 2))
        result = kellynotes.estimate_mutual_information(x, (x[:, 0] > 0).astype(int), key=jax.random.key(0),
                                                        config=dataclasses.replace(TINY, baseline="candidate"))
        assert result.settings["gaussian_baseline"] is None
        with pytest.raises(ValueError, match="baseline must be one of"):
            api.VectorInformationConfig(baseline="gaussian")


def test_overfitting_is_reported():
    """150 independent training pairs, a wide network, many steps and no validation split: the network
    fits its training pairs, and MINDE on them and on 600 held-out pairs part (measured: 0.895 ± 0.077
    and 2.191 ± 0.157 nats, 7 combined standard errors apart; I = 0). The standard errors count the
    sampling of the pairs, so the held-out set must be large enough for the gap to show: with 30
    held-out pairs it read 1.79 ± 0.14 against 4.11 ± 0.96, under 3 standard errors."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(750, 8)), rng.normal(size=(750, 8))  # independent: I = 0
    train = entropy.TrainConfig(steps=3000, batch_size=64, width=256, label_dropout=0.5, progress=False)
    config = api.VectorInformationConfig(train=train, networks="one", marginals="standardize", validation_fraction=0.0,
                                         held_out_fraction=0.8, num_samples=20_000, rate_points=4)
    result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=config)
    train_minde, held_out = result.train_estimate, result.held_out_estimate
    assert result.split.train.size == 150 and result.value == held_out.value
    assert abs(train_minde.value - held_out.value) > 2 * api.DISAGREEMENT_Z * np.hypot(train_minde.stderr,
                                                                                      held_out.stderr)
    assert any("overfitting" in warning for warning in result.warnings)


class TestPublicAPIErrors:
    x = np.random.default_rng(0).normal(size=(500, 3))
    y = np.random.default_rng(1).normal(size=(500, 2))

    @pytest.mark.parametrize("x, y, message", [
        (np.zeros((500, 3)), np.zeros((400, 2)), "same number of samples"),
        (np.zeros(500), np.zeros((500, 2)), r"shape \(N, D_X\)"),
        (np.zeros((50, 3)), np.zeros((50, 2)), "at least 100"),
        (np.full((500, 3), np.nan), np.zeros((500, 2)), "x contains NaN"),
        (np.zeros((500, 3)), np.full((500, 2), np.inf), "y contains NaN or infinite"),
        (np.zeros((500, 3), dtype=bool), np.zeros((500, 2)), "x must be an array of real numbers"),
        (np.zeros((500, 3), dtype=complex), np.zeros((500, 2)), "x must be an array of real numbers"),
        (np.zeros((500, 3)), np.array(["a"] * 500), "y must be real numbers"),
        (np.zeros((500, 3)), np.zeros(500), "reshape"),
        (np.zeros((500, 3)), -np.ones(500, dtype=int), "labels"),
    ])
    def test_bad_inputs_raise_clear_errors(self, x, y, message):
        with pytest.raises(ValueError, match=message):
            kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0))

    def test_constant_columns_are_refused(self):
        x = self.x.copy()
        x[:, 1] = 2.0
        with pytest.raises(ValueError, match=r"constant columns \[1\]"):
            kellynotes.estimate_mutual_information(x, self.y, key=jax.random.key(0))

    def test_wrong_config_and_options(self):
        with pytest.raises(ValueError, match="config must be a VectorInformationConfig"):
            kellynotes.estimate_mutual_information(self.x, self.y, key=jax.random.key(0), config=QUICK)
        with pytest.raises(ValueError, match="split must be a PairSplit"):
            kellynotes.estimate_mutual_information(self.x, self.y, key=jax.random.key(0), split=(1, 2, 3))
        with pytest.raises(ValueError, match="networks must be"):
            api.VectorInformationConfig(networks="three")

    def test_labels_unseen_in_training_are_named(self):
        labels = np.zeros(500, dtype=int)
        labels[-1] = 1
        split = api.PairSplit(np.arange(400), np.arange(400, 450), np.arange(450, 500))
        with pytest.raises(ValueError, match=r"labels \[1\] occur only outside the training split"):
            kellynotes.estimate_mutual_information(self.x, labels, key=jax.random.key(0), split=split)

    def test_neural_entropy_rejects_bad_x(self):
        with pytest.raises(ValueError, match="x contains NaN"):
            kellynotes.estimate_neural_entropy(np.full((500, 3), np.nan), key=jax.random.key(0))

    def test_integer_labels_are_accepted(self):
        labels = (self.x[:, 0] > 0).astype(int)
        result = kellynotes.estimate_mutual_information(self.x, labels, key=jax.random.key(0), config=TINY)
        # I(X; sign(X_0)) <= H(label) = log 2; a short run must land in [0, log 2 + 4 s.e.].
        assert -4 * result.stderr < result.value < np.log(2) + 4 * result.stderr
        assert result.rate.rate.shape == (4,)
        assert result.settings["config"]["train"]["steps"] == 300


def test_stored_settings_count_settings_added_since_with_their_old_behaviour():
    today = api.VectorInformationConfig()
    stored = json.loads(json.dumps(dataclasses.asdict(today)))
    assert api.same_vector_settings(stored, today)
    # stored before gaussian_patience, gaussian_estimate and TrainConfig.residual existed: every network
    # trained all its steps with the plain body, and a kept Gaussian was read by MINDE; today's default
    # does neither
    old = {name: value for name, value in stored.items() if name not in ("gaussian_patience", "gaussian_estimate")}
    old["train"] = {name: value for name, value in stored["train"].items() if name != "residual"}
    assert not api.same_vector_settings(old, today)
    assert not api.same_vector_settings(old, dataclasses.replace(today, gaussian_patience=None))
    before = dataclasses.replace(today, gaussian_patience=None, train=dataclasses.replace(today.train, residual=False))
    assert not api.same_vector_settings(old, before)
    assert api.same_vector_settings(old, dataclasses.replace(before, gaussian_estimate="minde"))
    # without a Gaussian candidate its margin, patience and estimate do nothing, so their absence does not matter
    none = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(today, baseline="none"))))
    for name in ("baseline_margin", "gaussian_patience", "gaussian_estimate"):
        del none[name]
    assert api.same_vector_settings(none, dataclasses.replace(today, baseline="none"))
    assert not api.same_vector_settings(none, today)
