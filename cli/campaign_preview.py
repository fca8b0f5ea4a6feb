"""`segbot campaign preview`: each message as a real subscriber will see it, and why that
person gets it.

Where a person lands (a target and its variant, or nothing: holdout, frequency cap, not
active) is the planner's answer for a run starting now (`broadcasts.planner.place`); the
message is composed by the sender's own `compose`, in the person's language, with the
campaign's buttons and its Unsubscribe button. Only links stay as written, untracked: a
preview registers nothing. `cli.telegram_view` draws it.

Three views: one named subscriber (`--subscriber`); N random members of each target
(`--sample`); by default every variant of each target, in each of its languages, for one
random member of it (the sample subscriber when a target has none).
"""

from collections.abc import Sequence

from rich.console import Console
from rich.rule import Rule
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import get_campaign
from broadcasts.compose import PreparedVariant, Recipient, compose, prepared, subscriber_context
from broadcasts.message_content import MessageContent, in_each_language
from broadcasts.models import Campaign, CampaignTarget, Exclusion, Variant
from broadcasts.planner import Placement, place
from broadcasts.telegram_html import TelegramHtmlError
from broadcasts.templates import SAMPLE, RenderError, TemplateContext
from cli.subscribers import subscriber_or_exit
from cli.telegram_view import BUBBLE_WIDTH, message_view
from core.clock import utcnow
from core.languages import pick_language
from core.models import Subscriber
from core.subscriber_search import describe

HOW_TO = (
    "one person's message: --subscriber WHO (id, tg:TELEGRAM_ID or @username); "
    "--sample N: N random members of each target"
)


class Previewer:
    """Prints one campaign's previews to `console`; counts messages that cannot be
    rendered (the sender would skip those subscribers)."""

    def __init__(
        self, session: AsyncSession, console: Console, campaign: Campaign, rfm: tuple[str, ...]
    ) -> None:
        self.session, self.console, self.campaign, self.rfm = session, console, campaign, rfm
        self.unrenderable = 0

    @classmethod
    async def of(
        cls, session: AsyncSession, console: Console, *, ref: str, rfm: tuple[str, ...]
    ) -> "Previewer":
        campaign = await get_campaign(session, ref=ref)
        unsubscribe = "with" if campaign.unsubscribe_button else "without"
        console.print(
            f"{campaign.name} ({campaign.status.value}): "
            f"{len(campaign.targets)} target{'' if len(campaign.targets) == 1 else 's'}, "
            f"in order; {unsubscribe} the Unsubscribe button"
        )
        return cls(session, console, campaign, rfm)

    async def subscriber(self, ref: str) -> None:
        """The one message `ref` gets, and why (or why nothing)."""
        person = await subscriber_or_exit(self.session, ref)
        placed = await self._place(subscriber_ids=[person.id])
        await self._person(person, placed[0] if placed else None)

    async def sample(self, size: int) -> None:
        """`size` random members of each target (those it would send to first)."""
        placed = await self._place(sample=size)
        people = await self._people(placed)
        for number, target in enumerate(self.campaign.targets, 1):
            self._heading(number, target)
            members = [each for each in placed if each.target is target]
            if not members:
                self.console.print("nobody is in this target now")
            for placement in members:
                await self._person(people[placement.subscriber_id], placement)

    async def every_variant(self) -> None:
        """Each target's variants, for one random member of the target."""
        placed = await self._place(sample=1)
        people = await self._people(placed)
        for number, target in enumerate(self.campaign.targets, 1):
            self._heading(number, target)
            member = next((each for each in placed if each.target is target), None)
            person: Subscriber | None = None
            if member is None:
                self.console.print("nobody is in this target now: shown for the sample subscriber")
            else:
                person = people[member.subscriber_id]
                gets = f"variant {member.variant.name}"
                if member.exclusion is not None:
                    gets += f" (but {_nothing(self.campaign, member)})"
                who = describe(person)
                self.console.print(f"shown for {who}, a random member, who gets {gets}")
            for variant in target.variants:
                self.console.print(f"variant {variant.name} ({variant.split_percent}%):")
                await self._message(
                    target, variant, person, every_language=True, sent=_is_sent(member)
                )
        self.console.print(HOW_TO, style="dim")

    async def _place(
        self, *, subscriber_ids: Sequence[int] | None = None, sample: int | None = None
    ) -> list[Placement]:
        return await place(
            self.session, campaign=self.campaign, now=utcnow(), subscriber_ids=subscriber_ids,
            sample=sample, rfm_segments=self.rfm,
        )  # fmt: skip

    async def _people(self, placed: Sequence[Placement]) -> dict[int, Subscriber]:
        ids = [each.subscriber_id for each in placed]
        rows = await self.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids)))
        return {person.id: person for person in rows.all()}

    def _heading(self, number: int, target: CampaignTarget) -> None:
        title = f"target {number} of {len(self.campaign.targets)}: {_audience(target)}"
        self.console.print(Rule(title, align="left"))

    async def _person(self, person: Subscriber, placement: Placement | None) -> None:
        self.console.print(describe(person))
        for line in _why(self.campaign, placement):
            self.console.print(f"  {line}")
        if placement is not None:
            await self._message(
                placement.target, placement.variant, person, sent=_is_sent(placement)
            )

    async def _message(
        self,
        target: CampaignTarget,
        variant: Variant,
        person: Subscriber | None,
        *,
        every_language: bool = False,
        sent: bool = True,
    ) -> None:
        """The variant composed for `person` (None: the sample subscriber) and drawn: in
        their language, or `every_language` it has. `sent`: a run would send it to them
        (not if they are excluded), so one that cannot be rendered counts as skipped."""
        context = SAMPLE
        if person is not None:
            found = await subscriber_context(
                self.session, subscriber_id=person.id, campaign=self.campaign
            )
            context = SAMPLE if found is None else found
        content = MessageContent.of_variant(variant, language=self.campaign.language)
        ready = prepared(content, variant_id=variant.id, target_label=target.label)
        if every_language:
            versions = in_each_language(content, context)
        else:
            chosen = pick_language(context.language, content.languages, content.language)
            versions = [(chosen if len(content.languages) > 1 else None, context)]
        for language, shown in versions:
            if language is not None:
                self.console.print(f"  in {language}:", style="dim")
            self._draw(ready, person, shown, sent=sent)
        if content.kind == "album" and self.campaign.unsubscribe_button:
            self.console.print(
                "  an album carries no buttons (Telegram's albums cannot): no Unsubscribe "
                "button under this one; subscribers can still send /stop",
                style="dim",
            )

    def _draw(
        self,
        ready: PreparedVariant,
        person: Subscriber | None,
        context: TemplateContext,
        *,
        sent: bool,
    ) -> None:
        recipient = Recipient(
            delivery_id=0,
            subscriber_id=0 if person is None else person.id,
            variant_id=ready.variant_id,
            chat_id=0 if person is None else person.chat_id,
            context=context,
        )
        try:
            message = compose(
                recipient, ready, public_url="", secret="",
                unsubscribe_button=self.campaign.unsubscribe_button,
            )  # fmt: skip
            self.console.print(message_view(message, width=BUBBLE_WIDTH), "")
        except (RenderError, TelegramHtmlError) as error:
            if sent:
                self._unrenderable(error)
            else:
                self.console.print(f"  cannot be rendered for this person: {error!s}")

    def _unrenderable(self, error: Exception) -> None:
        self.unrenderable += 1
        self.console.print(f"  cannot be sent to this person: {error}")


def _is_sent(placement: Placement | None) -> bool:
    """Whether a run would send to whom `placement` places (None: the sample subscriber)."""
    return placement is None or placement.exclusion is None


def _audience(target: CampaignTarget) -> str:
    if target.segment is not None:
        return f"{target.label} (segment {target.segment})"
    if target.rule_text is not None:
        return f"{target.label} (rule {target.rule_text})"
    return f"{target.label} (everyone no earlier target took)"


def _why(campaign: Campaign, placement: Placement | None) -> list[str]:
    """Which target and variant, and why; or why nothing."""
    if placement is None:
        return ["gets nothing: no target's audience includes them (and there is no default)"]
    targets = campaign.targets
    number = targets.index(placement.target) + 1
    lines = [f"target {number} of {len(targets)}, {_audience(placement.target)}: the first "
             "whose audience includes them"]  # fmt: skip
    if number > 1:
        lines.append("not in " + "; ".join(_audience(target) for target in targets[: number - 1]))
    variant = placement.variant
    if len(placement.target.variants) == 1:
        lines.append(f"variant {variant.name}: the target's only message")
    else:
        lines.append(
            f"variant {variant.name}: {variant.split_percent}% of the target get it "
            "(the split is fixed per person and campaign)"
        )
    if placement.exclusion is None:
        lines.append("gets this message:")
    else:
        lines.append(f"{_nothing(campaign, placement)}; the message they would have had:")
    return lines


def _nothing(campaign: Campaign, placement: Placement) -> str:
    """Why a placed subscriber gets nothing, as the run would record it."""
    if placement.exclusion == Exclusion.HOLDOUT:
        return (
            f"gets nothing: in the holdout, the {campaign.holdout_percent}% of each target "
            "kept out to measure lift"
        )
    if placement.exclusion == Exclusion.CAPPED:
        return (
            f"gets nothing: the frequency cap ({campaign.cap_messages} per "
            f"{campaign.cap_hours} h) is reached"
        )
    return f"gets nothing: they are {placement.exclusion} (only active subscribers get messages)"
