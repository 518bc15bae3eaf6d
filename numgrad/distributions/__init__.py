"""``numgrad.distributions``: PyTorch's ``torch.distributions`` on numgrad tensors.

Probability distributions with PyTorch's API and semantics (batch/event shapes, ``sample``/``rsample``
with a ``sample_shape``, ``log_prob``, ``entropy``, ``mean``/``mode``/``variance``/``stddev``,
``cdf``/``icdf``, ``expand``, argument validation with PyTorch's errors), constraints, transforms and
``kl_divergence``. Parameters are numgrad tensors and every formula is numgrad ops, so ``log_prob``,
``entropy``, ``kl_divergence`` and ``rsample`` differentiate w.r.t. the parameters (VAEs, policy gradients).
Draws come from numgrad's generator (``numgrad.manual_seed``): repeatable, but not PyTorch's stream.

Families: Normal, Laplace, LogNormal, Uniform, Exponential, Gamma, Beta, Dirichlet, Bernoulli, Binomial,
Categorical, OneHotCategorical, Poisson, MultivariateNormal, Independent, TransformedDistribution.

>>> import numgrad as ng
>>> from numgrad.distributions import Normal, kl_divergence
>>> mu = ng.tensor([0.5], requires_grad=True)
>>> q = Normal(mu, ng.tensor([1.0]))
>>> loss = kl_divergence(q, Normal(0.0, 1.0)).sum(); loss.backward(); mu.grad
tensor([0.5000])
"""
from . import constraints, transforms  # noqa: F401
from .bernoulli import Bernoulli, Binomial
from .beta import Beta, Dirichlet
from .categorical import Categorical, OneHotCategorical
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .gamma import Exponential, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Laplace, Normal
from .poisson import Poisson
from .transformed_distribution import LogNormal, TransformedDistribution
from .transforms import AffineTransform, ComposeTransform, ExpTransform, SigmoidTransform, TanhTransform, Transform
from .uniform import Uniform

__all__ = [
    "AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "ComposeTransform", "Dirichlet",
    "Distribution", "ExpTransform", "Exponential", "ExponentialFamily", "Gamma", "Independent", "Laplace",
    "LogNormal", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "SigmoidTransform",
    "TanhTransform", "Transform", "TransformedDistribution", "Uniform", "constraints", "kl_divergence",
    "register_kl", "transforms",
]
