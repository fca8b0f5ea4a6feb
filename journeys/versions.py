"""Journey versions as the engine runs them: the spec (without its messages) and the hidden
campaign holding the messages, each send step's targets apart. A version never changes
once saved, so each is loaded once per process."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignTarget
from journeys.messages import step_targets
from journeys.models import JourneyVersion
from journeys.spec import JourneySpec, stored_spec


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    id: int
    journey_id: int
    number: int
    spec: JourneySpec
    campaign: Campaign  # with its targets and variants loaded
    targets: dict[str, list[CampaignTarget]]  # each send step's, in order, default last


class Versions:
    """Versions by id, loaded on first use."""

    def __init__(self) -> None:
        self._loaded: dict[int, LoadedVersion] = {}

    async def get(self, session: AsyncSession, version_id: int) -> LoadedVersion:
        if version_id not in self._loaded:
            self._loaded[version_id] = await load_version(session, version_id)
        return self._loaded[version_id]


async def load_version(session: AsyncSession, version_id: int) -> LoadedVersion:
    version = await session.get(JourneyVersion, version_id)
    if version is None:
        raise LookupError(f"no journey version {version_id}")
    campaign = await session.get(Campaign, version.campaign_id)
    if campaign is None:
        raise LookupError(f"journey version {version_id} has no campaign")
    spec = stored_spec(version.spec)
    by_position = {target.position: target for target in campaign.targets}
    targets = {
        step: [by_position[position] for position in positions]
        for step, positions in step_targets(spec).items()
    }
    return LoadedVersion(version.id, version.journey_id, version.version, spec, campaign, targets)
