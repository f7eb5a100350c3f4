"""iclv_jax: integrated choice and latent variable models by maximum simulated likelihood.

float64 is switched on at import (``jax_enable_x64``): simulated log-likelihoods of
thousands of people need it.  JAX's persistent compilation cache is switched on in a
per-user folder (see :mod:`iclv_jax.compilecache`; ``ICLV_JAX_NO_CACHE=1`` opts out).
"""

import jax

jax.config.update("jax_enable_x64", True)

from .compilecache import enable_compilation_cache  # noqa: E402

enable_compilation_cache()

# submodules users reach as attributes (``ij.datasets.beverage()``, ``ij.plots.convergence``)
from . import bayes, datasets, plots  # noqa: E402
from .bayes import Posterior, load_posterior, sample  # noqa: E402
from .checkpoint import CheckpointError  # noqa: E402
from .classes import latent_class_start, posterior_classes  # noqa: E402
from .components import JointChoice, LatentClass, NestedLogit  # noqa: E402
from .data import DataError, Panel, prepare_data  # noqa: E402
from .diagnostics import (  # noqa: E402
    check_gradients,
    detect_frozen,
    detect_frozen_path,
    gradient_scales,
)
from .draws import (  # noqa: E402
    MLHS,
    ApolloHalton,
    Draws,
    DrawsMemoryError,
    Halton,
    NoDraws,
    PseudoRandom,
    Sobol,
)
from .errors import UnobservedLevelWarning  # noqa: E402
from .estimation import Problem, estimate  # noqa: E402
from .expressions import Beta, Expression, Latent, Var, parse  # noqa: E402
from .inference import NotAMaximumWarning  # noqa: E402
from .modelfile import ModelFileError, load_model, save_model  # noqa: E402
from .parametertable import parameters  # noqa: E402
from .persistence import (  # noqa: E402
    draws_from_dict,
    draws_from_repr,
    load_results,
    model_from_dict,
    model_to_dict,
    save_results,
)
from .postestimation import (  # noqa: E402
    delta_method,
    elasticities,
    loglike_constants_only,
    lr_test,
    market_shares,
    posterior_lv,
    predict,
    rho_squared,
    wtp,
)
from .quadrature import AdaptiveQuadrature, Quadrature  # noqa: E402
from .reportfigures import html_report, report_figures  # noqa: E402
from .results import Results, UndefinedStandardErrorWarning  # noqa: E402
from .spec import (  # noqa: E402
    Alternative,
    BinaryProbit,
    ChoiceModel,
    Custom,
    ICLVModel,
    Indicator,
    LatentVariable,
    MultinomialLogit,
    NoChoice,
    OrderedProbitChoice,
    RandomCoefficient,
    SpecificationError,
    Utility,
)
from .version import __version__ as __version__  # noqa: E402

__all__ = [
    "bayes",
    "datasets",
    "plots",
    "Posterior",
    "load_posterior",
    "sample",
    "MLHS",
    "AdaptiveQuadrature",
    "ApolloHalton",
    "Draws",
    "DrawsMemoryError",
    "Halton",
    "NoDraws",
    "Problem",
    "PseudoRandom",
    "Quadrature",
    "Results",
    "Sobol",
    "check_gradients",
    "detect_frozen",
    "detect_frozen_path",
    "estimate",
    "gradient_scales",
    "Alternative",
    "Beta",
    "BinaryProbit",
    "CheckpointError",
    "ChoiceModel",
    "Custom",
    "DataError",
    "Expression",
    "ICLVModel",
    "Indicator",
    "JointChoice",
    "Latent",
    "LatentClass",
    "LatentVariable",
    "MultinomialLogit",
    "NestedLogit",
    "NoChoice",
    "OrderedProbitChoice",
    "Panel",
    "RandomCoefficient",
    "SpecificationError",
    "Utility",
    "Var",
    "parse",
    "prepare_data",
    "delta_method",
    "draws_from_dict",
    "draws_from_repr",
    "elasticities",
    "load_results",
    "loglike_constants_only",
    "lr_test",
    "market_shares",
    "model_from_dict",
    "model_to_dict",
    "parameters",
    "posterior_classes",
    "posterior_lv",
    "predict",
    "rho_squared",
    "save_results",
    "latent_class_start",
    "html_report",
    "report_figures",
    "ModelFileError",
    "NotAMaximumWarning",
    "UndefinedStandardErrorWarning",
    "UnobservedLevelWarning",
    "load_model",
    "save_model",
    "wtp",
]
