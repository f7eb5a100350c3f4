"""Several choice components per person sharing the LVs (combined RP / SP experiments).

Each row (situation) belongs to one component ``c``, the value ``c`` (``1..C``, the
components' order) of the ``experiment`` column.  Component ``c`` is a whole choice
model of its own kind (its kernel, utilities, outcomes, availability); a parameter
named alike in two components is one parameter (shared tastes), and component
``c >= 2`` has its utilities multiplied by a free relative scale ``lambda_c =
scale_<name>`` (positive, log-parametrised; ``lambda_1 = 1``):

    V^c_tj = lambda_c mu_c (x_tj . beta + theta_j . eta + ...),

so the choice part of a person's draw log-likelihood is, with ``c(t)`` the component
of situation ``t``,

    sum_t log P_c(t)(y_t | eta_r) = sum_c sum_{t: c(t) = c} log P_c(y_t | eta_r).

Why one column of component numbers rather than one selector column per component: a
row then belongs to exactly one component by construction (no row in two, and a value
outside ``1..C`` is refused naming the row and the person); Apollo-style selector
dummies become one column with a derived variable (``variables={"experiment":
"1 + is_sp"}``).

The panel holds all components' utilities side by side (``J = sum_c J_c``; the
utilities' labels are ``<component>:<label>``), the outcome as an index within the
row's component, and the availability of the row's component in its block of columns
(the other blocks all unavailable): a row's component is the block where something is
available.  A column a component reads is read on every row (and must be finite
there); only the row's own component interprets it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Bool, Float, Int

from ..columns import plain
from ..errors import DataError, SpecificationError
from ..expressions import Expression
from ..utility import Utility, scale_parameter
from .choice import AbstractChoice, ChoiceModel, CustomTerm
from .declarations import ComponentPlan, Declarations

__all__ = ["JointChoice", "JointChoiceKernel", "relative_scale"]

# the fields every choice kernel has; the others of a component are its "own"
KERNEL_FIELDS = ("beta", "theta", "scale", "custom_params")


def relative_scale(component: str) -> str:
    """The name of component ``component``'s relative scale: ``scale_<component>``."""
    return f"scale_{component}"


class Part(NamedTuple):
    """One component placed in the joint kernel: its kernel class, its utilities
    ``[j0, j1)`` and outcomes ``[k0, k1)`` among the joint ones, its custom parameters
    ``[q0, q1)``, its own fields ``(field, start, shape)`` in ``own``, its data fields
    ``(field, values, dtype, shape)``, its custom and random terms."""

    kernel: type[AbstractChoice]
    utilities: tuple[int, int]
    outcomes: tuple[int, int]
    params: tuple[int, int]
    own: tuple[tuple[str, int, tuple[int, ...]], ...]
    data: tuple[tuple[str, tuple, str, tuple[int, ...]], ...]
    custom_terms: tuple[CustomTerm, ...]
    random_terms: tuple[tuple[int, int, int], ...]


class JointChoiceKernel(AbstractChoice):
    """The components' kernels side by side: ``theta`` ``(J, LK)`` holds every
    component's rows, ``scale`` ``(C,)`` their own scales, ``relative`` ``(C,)`` the
    relative scales (``1`` for the first), ``own`` their other fields flattened."""

    analytic_scores: ClassVar = False

    scale: Float[Array, " C"]
    relative: Float[Array, " C"]
    own: Float[Array, " O"]
    parts: tuple[Part, ...] = eqx.field(static=True)

    def kernels(self) -> list[AbstractChoice]:
        """Every component's kernel, its scale times its relative scale."""
        out = []
        for c, part in enumerate(self.parts):
            own = {
                field: self.own[start : start + int(np.prod(shape))].reshape(shape)
                for field, start, shape in part.own
            }
            data = {
                field: jnp.asarray(values, dtype=dtype).reshape(shape)
                for field, values, dtype, shape in part.data
            }
            j0, j1 = part.utilities
            q0, q1 = part.params
            out.append(
                part.kernel(
                    beta=self.beta,
                    theta=self.theta[j0:j1],
                    scale=self.scale[c] * self.relative[c],
                    custom_params=self.custom_params[q0:q1],
                    custom_terms=part.custom_terms,
                    random_terms=part.random_terms,
                    **own,
                    **data,
                )
            )
        return out

    def base_utility(self, design: Float[Array, "T J PA"]):
        """Every component's draw-free utility part from its block of the design."""
        return tuple(
            kernel.base_utility(design[:, part.utilities[0] : part.utilities[1]])
            for kernel, part in zip(self.kernels(), self.parts, strict=True)
        )

    def _rows(self, part: Part, available: Bool[Array, "T J"]):
        """``(whether each row is the component's, its availability block with the
        other rows all available)``: the kernel sees valid inputs on every row."""
        block = available[:, part.utilities[0] : part.utilities[1]]
        mine = block.any(axis=1)
        return mine, jnp.where(mine[:, None], block, True)

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        """``log P_c(t)(y_t | eta)``: each row's log-probability under its component."""
        total = None
        for kernel, part, b in zip(self.kernels(), self.parts, base, strict=True):
            mine, block = self._rows(part, available)
            lp = kernel.log_prob(b, eta, jnp.where(mine, chosen, 0), block)
            term = jnp.where(mine.reshape((-1,) + (1,) * (lp.ndim - 1)), lp, 0.0)
            total = term if total is None else total + term
        return total

    def probabilities(self, base, eta: Float[Array, " LK"], available: Bool[Array, "T J"]):
        """``(T, K)`` with ``K = sum_c K_c``: each row's outcome probabilities under its
        component in that component's block of columns, 0 elsewhere."""
        blocks = []
        for kernel, part, b in zip(self.kernels(), self.parts, base, strict=True):
            mine, block = self._rows(part, available)
            probs = kernel.probabilities(b, eta, block)
            blocks.append(jnp.where(mine[:, None], probs, 0.0))
        return jnp.concatenate(blocks, axis=1)


@dataclass(frozen=True)
class JointChoice(ChoiceModel):
    """Several choice components per person sharing the LVs (see the module docstring).

    Attributes:
        components: ``name -> choice model`` in order; rows with ``experiment == c``
            belong to the ``c``-th (1-based).  Parameters named alike are shared; the
            second and later components get a relative scale ``scale_<name>``.
        experiment: the column saying which component each row belongs to.
    """

    kind = "joint"
    kernel = JointChoiceKernel

    components: Mapping[str, ChoiceModel]
    experiment: str

    def __post_init__(self):
        object.__setattr__(self, "components", dict(self.components))
        if len(self.components) < 2:
            raise SpecificationError(
                f"joint choice: give at least two components, not {list(self.components)}"
            )
        for name, sub in self.components.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise SpecificationError(
                    f"joint choice: component name {name!r} must be an identifier"
                )
            if not isinstance(sub, ChoiceModel) or sub.empty or sub.kind == self.kind:
                raise SpecificationError(
                    f"joint choice: component {name!r} must be a choice model, not {sub!r}"
                )
            if sub.kernel.person_log_prob is not AbstractChoice.person_log_prob:
                raise SpecificationError(
                    f"joint choice: component {name!r} ({sub.kind}) mixes over a person's "
                    "whole panel; its situations cannot be split among components"
                )
        for name, sub in list(self.components.items())[1:]:
            if scale_parameter(sub) is not None:
                raise SpecificationError(
                    f"joint choice: component {name!r} frees its own scale; its relative "
                    f"scale {relative_scale(name)!r} is its scale (set scale=False)"
                )

    @property
    def choice(self) -> Any:
        return next(iter(self.components.values())).choice

    def _labelled(self):
        """``(joint label, component name, the component's label)`` of every utility."""
        return [
            (f"{name}:{label}", name, label)
            for name, sub in self.components.items()
            for label in sub.utilities()
        ]

    def utilities(self) -> dict[str, Utility | Expression]:
        return {
            joint: self.components[name].utilities()[label]
            for joint, name, label in self._labelled()
        }

    def with_utilities(self, utilities: dict[str, Utility]) -> JointChoice:
        subs: dict[str, dict[str, Utility]] = {name: {} for name in self.components}
        for joint, name, label in self._labelled():
            subs[name][label] = utilities[joint]
        return dataclasses.replace(
            self,
            components={
                name: sub.with_utilities(subs[name]) for name, sub in self.components.items()
            },
        )

    def lv_suffix(self, alternative: str) -> str | None:
        name, label = alternative.split(":", 1)
        return self.components[name].lv_suffix(label)

    def person_covariates(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sub in self.components.values():
            seen.update(dict.fromkeys(sub.person_covariates()))
        return tuple(seen)

    def row_columns(self) -> dict[str, str]:
        """The experiment column and the other components' choice columns."""
        uses = {self.experiment: "experiment"}
        for sub in self.components.values():
            uses.setdefault(sub.choice, "choice")
            uses.update(sub.row_columns())
        return uses

    def lv_coefficient_names(self, lvs: tuple[str, ...]) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {lv: [] for lv in lvs}
        for sub in self.components.values():
            for lv, own in sub.lv_coefficient_names(lvs).items():
                names[lv] += [name for name in own if name not in names[lv]]
        return names

    # -- outcomes and data ----------------------------------------------------------------
    def outcome_labels(self) -> list:
        return [
            f"{name}:{label}"
            for name, sub in self.components.items()
            for label in sub.outcome_labels()
        ]

    def outcome_codes(self) -> list:
        return self.outcome_labels()

    def availability_columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sub in self.components.values():
            seen.update(dict.fromkeys(sub.availability_columns()))
        return tuple(seen)

    def membership(self, df: pd.DataFrame, person_id: str) -> np.ndarray:
        """Each row's component, 0-based; raises :class:`DataError` naming the row and
        the person for a value outside ``1..C``."""
        values = df[self.experiment].to_numpy(dtype=float)
        bad = ~np.isin(values, np.arange(1, len(self.components) + 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column {self.experiment!r} (experiment): row {i} of person "
                f"{plain(df[person_id].iloc[i])!r} holds {plain(values[i])!r}, which "
                f"names none of the components 1..{len(self.components)} "
                f"{list(self.components)}"
            )
        return values.astype(np.int64) - 1

    def _blocks(self) -> list[tuple[int, int]]:
        """Each component's utilities ``[j0, j1)`` among the joint ones."""
        sizes = np.cumsum([0] + [len(sub.utilities()) for sub in self.components.values()])
        return [(int(a), int(b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Each component encodes its own rows; the availability of the others' blocks
        is all 0."""
        component = self.membership(df, person_id)
        blocks = self._blocks()
        chosen = np.zeros(len(df), dtype=np.int64)
        available = np.zeros((len(df), blocks[-1][1]), dtype=bool)
        for c, (sub, (j0, j1)) in enumerate(zip(self.components.values(), blocks, strict=True)):
            rows = np.flatnonzero(component == c)
            if len(rows):
                chosen[rows], available[rows, j0:j1] = sub.encode(df.iloc[rows], person_id)
        return chosen, available

    def _split(self, chosen: np.ndarray, available: np.ndarray):
        """``(name, component, its chosen, its availability)`` from encoded rows."""
        for (name, sub), (j0, j1) in zip(self.components.items(), self._blocks(), strict=True):
            mine = available[:, j0:j1].any(axis=1)
            yield name, sub, chosen[mine], available[mine, j0:j1]

    def observed_labels(self, data: pd.DataFrame) -> np.ndarray:
        """Each row's outcome label under its component, ``<name>:<label>``."""
        values = data[self.experiment].to_numpy(dtype=float)
        out = np.full(len(data), None, dtype=object)
        for c, (name, sub) in enumerate(self.components.items()):
            rows = np.flatnonzero(values == c + 1)
            mine = sub.observed_labels(data.iloc[rows])
            out[rows] = [f"{name}:{label}" for label in mine.tolist()]
        return out

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        """The first component's choice column's placeholder (:meth:`placeholders`)."""
        return self.placeholders(data)[self.choice]()

    def placeholders(self, data: pd.DataFrame) -> dict[str, Callable[[], np.ndarray]]:
        """Each choice column filled, on each row, with a placeholder of the row's
        component where that component reads the column (the first reader's elsewhere,
        and everywhere without the experiment column)."""
        values = (
            data[self.experiment].to_numpy(dtype=float)
            if self.experiment in data.columns
            else np.ones(len(data))
        )

        def fill(column: str) -> np.ndarray:
            readers = [
                (c, sub) for c, sub in enumerate(self.components.values()) if sub.choice == column
            ]
            out = readers[0][1].placeholder(data)
            for c, sub in readers[1:]:
                rows = np.flatnonzero(values == c + 1)
                out[rows] = sub.placeholder(data.iloc[rows])
            return out

        columns = dict.fromkeys(sub.choice for sub in self.components.values())
        return {column: partial(fill, column) for column in columns}

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        for name, sub, mine, block in self._split(chosen, available):
            if len(mine) == 0:
                raise DataError(
                    f"joint choice: component {name!r} has no rows (column "
                    f"{self.experiment!r}); its parameters are not identified"
                )
            sub.check_identified(mine, block)

    def threshold_sets(self) -> tuple[str, ...]:
        return tuple(s for sub in self.components.values() for s in sub.threshold_sets())

    def ordered_columns(self) -> list[tuple[str, str, int]]:
        return [c for sub in self.components.values() for c in sub.ordered_columns()]

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float | None:
        """The sum of the components' (``None`` if one has none)."""
        parts = [sub.null_loglike(c, a) for _, sub, c, a in self._split(chosen, available)]
        return None if any(p is None for p in parts) else float(sum(p for p in parts if p))

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """The sum of the components' (each has its own constants)."""
        return float(
            sum(
                sub.constants_loglike(c, a)
                for _, sub, c, a in self._split(chosen, available)
                if len(c)
            )
        )

    # -- parameters ---------------------------------------------------------------------
    def declare(self, model, panel, declarations: Declarations) -> ComponentPlan:
        """Each component declares its parameters into the model's list (a name declared
        twice is one parameter: shared across components), on the panel restricted to
        its rows; then the relative scales ``scale_<name>`` (log, start 1) of the second
        and later components.  Fields are stacked: ``theta`` by utility, ``scale`` and
        ``relative`` by component, ``custom_params`` and the components' own fields
        (``own``) concatenated."""
        theta: list = []
        scales: list = []
        custom: list = []
        own: list = []
        own_signs: list = []
        parts = []
        outcomes = 0
        for (name, sub), (j0, j1) in zip(self.components.items(), self._blocks(), strict=True):
            mine = panel.available[..., j0:j1].any(axis=-1)
            sub_panel = dataclasses.replace(panel, situation_mask=panel.situation_mask & mine)
            plan = sub.declare(model, sub_panel, declarations)
            if any(field in plan.signs for field in KERNEL_FIELDS):
                raise SpecificationError(
                    f"joint choice: component {name!r} ({sub.kind}) signs a shared field"
                )
            theta += plan.names["theta"][0]
            scales.append(plan.names["scale"][0])
            q0 = len(custom)
            custom += plan.names["custom_params"][0]
            placed = []
            for field, (names, shape) in plan.names.items():
                if field in KERNEL_FIELDS:
                    continue
                flat = np.asarray(names, dtype=object).reshape(-1).tolist()
                placed.append((field, len(own), tuple(shape)))
                own += flat
                sign = plan.signs.get(field, np.ones(len(flat)))
                own_signs += np.asarray(sign, dtype=float).reshape(-1).tolist()
            n_outcomes = len(sub.outcome_labels())
            static = dict(plan.static)
            parts.append(
                Part(
                    kernel=plan.component,
                    utilities=(j0, j1),
                    outcomes=(outcomes, outcomes + n_outcomes),
                    params=(q0, len(custom)),
                    own=tuple(placed),
                    data=tuple(
                        (
                            field,
                            tuple(np.asarray(v).reshape(-1).tolist()),
                            str(np.asarray(v).dtype),
                            tuple(np.shape(v)),
                        )
                        for field, v in plan.data.items()
                    ),
                    custom_terms=static["custom_terms"],
                    random_terms=static["random_terms"],
                )
            )
            outcomes += n_outcomes
        relative = ["1"] + [
            declarations.add(relative_scale(name), "choice", 1.0, "log")
            for name in list(self.components)[1:]
        ]
        n = len(self.components)
        names = {
            "beta": (list(panel.linear_names), (len(panel.linear_names),)),
            "theta": (theta, (len(theta), plan.names["theta"][1][1])),
            "scale": (scales, (n,)),
            "relative": (relative, (n,)),
            "custom_params": (custom, (len(custom),)),
            "own": (own, (len(own),)),
        }
        return ComponentPlan(
            component=self.kernel,
            names=names,
            signs={"own": np.asarray(own_signs)} if any(s != 1.0 for s in own_signs) else {},
            data={},
            static=(
                ("parts", tuple(parts)),
                ("custom_terms", tuple(t for p in parts for t in p.custom_terms)),
                ("random_terms", tuple(t for p in parts for t in p.random_terms)),
            ),
        )
