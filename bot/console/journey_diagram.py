"""A journey's steps as a flow of boxes, for the console to draw in HTML (no script): the
steps in order, and at each wait_for or if step its two ways side by side until they
meet again, with how many people reached each step and are waiting at it.

Jumps only go forward (journeys.spec), so the steps form a graph without cycles, and
where a branching step's two ways meet again is its nearest post-dominator: the first
step that every way on from it passes through (or the journey's end). A step both ways
reach without it being that (one way can end early: an exit, a jump to `end`) is drawn
once, where it is first met; the other way says it goes there.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.console.journey_messages import StepMessage
from journeys.reports import StepReport
from journeys.reports.counts import StepPlaces
from journeys.reports.words import outcomes_text
from journeys.spec import JourneySpec
from journeys.steps_spec import StepSpec
from journeys.triggers_spec import span_text


@dataclass(frozen=True, slots=True)
class Box:
    """One step."""

    step: str
    action: str  # send, wait, wait_for, if, ...
    does: str  # in words: `wait 1d`, `add tag engaged`
    reached: int
    waiting: int  # inside, at this step now
    outcomes: str  # `yes 2, no 1`, when that says more than the counts
    message: StepMessage | None  # a send step's first message
    kind: Literal["box"] = "box"


@dataclass(frozen=True, slots=True)
class Branch:
    """A wait_for or if step, and where each of its ways goes (empty: straight to where
    they meet again)."""

    box: Box
    yes_label: str
    no_label: str
    yes: "tuple[Item, ...]"
    no: "tuple[Item, ...]"
    kind: Literal["branch"] = "branch"


@dataclass(frozen=True, slots=True)
class GoTo:
    """On to a step drawn elsewhere in the diagram."""

    step: str
    kind: Literal["goto"] = "goto"


@dataclass(frozen=True, slots=True)
class End:
    exit: bool  # an exit step (else: the steps ran out, or a jump to `end`)
    kind: Literal["end"] = "end"


Item = Box | Branch | GoTo | End


def diagram(
    spec: JourneySpec,
    counts: Mapping[str, StepReport],
    messages: Mapping[str, StepMessage],
) -> tuple[Item, ...]:
    """The journey drawn from its first step, with each step's counts and each send
    step's message, by step id."""
    return tuple(_Drawing(spec, counts, messages).region(0, stop=None))


class _Drawing:
    def __init__(
        self,
        spec: JourneySpec,
        counts: Mapping[str, StepReport],
        messages: Mapping[str, StepMessage],
    ) -> None:
        self.spec, self.counts, self.messages = spec, counts, messages
        self.end = len(spec.steps)  # the end, as a place after the last step
        self.place = {step.id: number for number, step in enumerate(spec.steps)}
        self.meets = self._meeting_places()
        self.drawn: set[int] = set()

    def _next(self, number: int) -> list[int]:
        """Where people go from the step: one place, two for a branch, the end after an
        exit."""
        step = self.spec.steps[number]
        if step.exit:
            return [self.end]
        if self._branches(step):
            ways = [self.spec.branch(step.id, holds=holds) for holds in (True, False)]
        else:
            ways = [self.spec.after(step.id)]
        return [self.end if way is None else self.place[way] for way in ways]

    def _meeting_places(self) -> dict[int, int]:
        """Each step's nearest post-dominator. Every jump goes forward, so the steps'
        post-dominators are known once those of the steps below are."""
        post: dict[int, set[int]] = {self.end: {self.end}}
        for number in reversed(range(self.end)):
            following = [post[way] for way in self._next(number)]
            post[number] = {number} | set.intersection(*following)
        return {number: min(post[number] - {number}) for number in range(self.end)}

    @staticmethod
    def _branches(step: StepSpec) -> bool:
        return step.wait_for is not None or step.if_ is not None

    def region(self, start: int, *, stop: int | None) -> list[Item]:
        """The steps from `start` until `stop` (where the ways meet; None: to the end)."""
        items: list[Item] = []
        here = start
        while here != stop:
            if here == self.end:
                items.append(End(exit=False))
                break
            if here in self.drawn:
                items.append(GoTo(self.spec.steps[here].id))
                break
            self.drawn.add(here)
            step = self.spec.steps[here]
            if step.exit:
                items += [self._box(step), End(exit=True)]
                break
            if not self._branches(step):
                items.append(self._box(step))
                (here,) = self._next(here)
                continue
            meet = self.meets[here]
            # Ways that meet only at the end each draw their own end.
            until = None if meet == self.end else meet
            yes, no = self._next(here)
            yes_label, no_label = self._labels(step)
            items.append(
                Branch(
                    box=self._box(step),
                    yes_label=yes_label,
                    no_label=no_label,
                    yes=tuple(self.region(yes, stop=until)),
                    no=tuple(self.region(no, stop=until)),
                )
            )
            if until is None:
                break
            here = until
        return items

    def _box(self, step: StepSpec) -> Box:
        report = self.counts.get(step.id)
        places = StepPlaces() if report is None else report.places
        return Box(
            step=step.id,
            action=step.action,
            does=step.describe(),
            reached=places.reached,
            waiting=places.waiting,
            outcomes=outcomes_text(places.outcomes),
            message=self.messages.get(step.id),
        )

    @staticmethod
    def _labels(step: StepSpec) -> tuple[str, str]:
        if step.within is not None:
            return "yes: it happened", f"no: not within {span_text(step.within)}"
        return "yes: the rule holds", "no: it does not"
