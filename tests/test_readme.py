"""The README's walkthrough "From a CSV of customers to a sent campaign", run as written.

Every ```sh block of that section is read from README.md and each line run in order, in a
temporary folder holding a copy of examples/, with `segbot` from this environment: each
command must exit 0 and say the one thing a marketer runs it to learn (COMMANDS). A line
the test does not know fails it, as does a known line the README no longer has, so the
README and this test cannot drift apart.

Telegram is a Bot API emulator in a process of its own, whose URL replaces the README's
SEGBOT_TELEGRAM_API_BASE. It knows the walkthrough's people: the marketer (Telegram id
1000, who presses Start to receive test messages) and the customers who open the links
`segbot links customer` printed, once `segbot run &` has started the bot.

The walkthrough keeps its own SQLite file in the temporary folder, as the README says,
also when the suite runs on PostgreSQL (SEGBOT_TEST_DATABASE_URL): it exercises the
commands, not the database engine, which the rest of the suite covers on both.
"""

import asyncio
import os
import re
import shlex
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from telegram_emulator import EmulatorClient
from tests.emulator_process import emulator_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## From a CSV of customers to a sent campaign"
SEGBOT = str(Path(sys.executable).parent / "segbot")
COMMAND_TIMEOUT = 300  # seconds; a bound for a hung command on a busy machine, not a speed check

BACKGROUND = "segbot run &"  # started, then customers open their links (see subscribe)
# The walkthrough's commands in order, each with what its output must say.
COMMANDS: tuple[tuple[str, str], ...] = (
    (
        "segbot crm import --customers customers.csv --orders orders.csv --mapping mapping.yaml",
        "orders: columns not imported: city",
    ),
    ('segbot segments save madrid_buyers "crm.city = Madrid and buyer"', "saved madrid_buyers"),
    ("segbot segments refresh", "0 subscribers (6 customers, 0 linked to a subscriber)"),
    ("segbot links customer C001 --bot shop_bot", "https://t.me/shop_bot?start="),
    ("segbot links customer C003 --bot shop_bot", "https://t.me/shop_bot?start="),
    (BACKGROUND, ""),
    ("segbot crm status", "subscribers matched to a customer: 2 of 3"),
    ("segbot segments refresh", "RFM needs at least 20 customers with orders; there are 6"),
    ("segbot segments show madrid_buyers", "members: 2"),
    ("segbot subscribers find ana", "Ana López"),
    ("segbot subscribers show @ana", "files/C001 (deep_link)"),
    ("segbot segments explain madrid_buyers @ana", "is in madrid_buyers"),
    ("segbot campaign create sale.yaml", "saved campaign"),
    ("segbot campaign preview sale --subscriber @ana", "target 1 of 2, madrid_buyers"),
    ("segbot rehearse sale --subscribers people.csv", "Ana López (1001, @ana) gets"),
    ("segbot campaign test-send sale --to 1000", "madrid_buyers/a: sent"),
    ("segbot campaign send-now sale", "done: sent 3"),
    ("segbot report campaign sale", "madrid_buyers"),
)


@dataclass(frozen=True)
class Person:
    """Someone in the emulator: the marketer, or a customer opening their link."""

    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str


MARKETER = Person(1000, "Marta", None, "marta_shop", "en")
CUSTOMERS = {  # by CRM id: who opens the link `segbot links customer ID` prints
    "C001": Person(1001, "Ana", "López", "ana", "es"),
    "C003": Person(1003, "Carla", "Gómez", "carla", "es"),
}


def walkthrough_lines(readme: str) -> list[str]:
    """The lines of the section's ```sh blocks, in order (continuations joined)."""
    section = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def walkthrough_environment(emulator_url: str, folder: Path) -> dict[str, str]:
    """This process's environment without any SEGBOT_* setting (the README sets its own),
    a wide terminal so tables keep every column, and a free port for the web server."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SEGBOT_")}
    return inherited | {
        "COLUMNS": "200",
        "SEGBOT_WEB_PORT": "0",
        "SEGBOT_TELEGRAM_API_BASE": emulator_url,
    }


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[str, EmulatorClient]]:
    """`python -m telegram_emulator` in a process of its own: its base URL and a client."""
    async with emulator_process("--bot-username", "shop_bot") as started:
        yield started


async def run_command(line: str, environment: dict[str, str], folder: Path) -> str:
    """Run one README line; its exit status must be 0. Returns stdout and stderr."""
    words = shlex.split(line)
    assert words[0] == "segbot", f"the walkthrough runs only segbot commands: {line}"
    process = await asyncio.create_subprocess_exec(
        SEGBOT,
        *words[1:],
        cwd=folder,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=COMMAND_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode()
    assert process.returncode == 0, f"`{line}` exited {process.returncode}:\n{text}"
    return text


async def subscribe(emulator: EmulatorClient, person: Person, start: str) -> None:
    """`person` opens the bot with `start` (/start and its payload) and gets its welcome."""
    await emulator.add_user(
        person.telegram_id,
        first_name=person.first_name,
        last_name=person.last_name,
        username=person.username,
        language_code=person.language_code,
    )
    await emulator.send_text(person.telegram_id, start)
    welcome = await emulator.wait_for_messages(person.telegram_id, timeout=120)
    assert welcome, f"{person.first_name} got no welcome from `segbot run`"


def start_payload(link: str) -> str:
    """The /start payload of a t.me link that `segbot links customer --bot` printed."""
    return link.strip().rsplit("start=", 1)[1]


async def test_the_readme_walkthrough_runs_as_written(
    emulator: tuple[str, EmulatorClient], tmp_path: Path
) -> None:
    emulator_url, telegram = emulator
    lines = walkthrough_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    commands = [line for line in lines if not line.startswith("export ")]
    assert commands == [line for line, _ in COMMANDS], (
        "the README's walkthrough and this test list different commands"
    )
    facts = iter(fact for _, fact in COMMANDS)
    folder = tmp_path / "shop"
    shutil.copytree(ROOT / "examples", folder)
    environment = walkthrough_environment(emulator_url, folder)
    links: dict[str, str] = {}
    bot: asyncio.subprocess.Process | None = None
    try:
        for line in lines:
            if line.startswith("export "):
                name, value = shlex.split(line.removeprefix("export "))[0].split("=", 1)
                if name != "SEGBOT_TELEGRAM_API_BASE":
                    environment[name] = value
            elif line == BACKGROUND:
                bot = await asyncio.create_subprocess_exec(
                    SEGBOT,
                    "run",
                    cwd=folder,
                    env=environment,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                await subscribe(telegram, MARKETER, "/start")
                for customer, link in links.items():
                    await subscribe(telegram, CUSTOMERS[customer], f"/start {start_payload(link)}")
                next(facts)
            else:
                output = await run_command(line, environment, folder)
                fact = next(facts)
                assert fact in output, f"`{line}` did not say {fact!r}:\n{output}"
                if line.startswith("segbot links customer "):
                    links[shlex.split(line)[3]] = output
    finally:
        if bot is not None and bot.returncode is None:
            bot.terminate()
            await bot.wait()
    received = await telegram.messages_to(CUSTOMERS["C001"].telegram_id)
    assert any("1.416,38" in str(message.get("text")) for message in received), received
