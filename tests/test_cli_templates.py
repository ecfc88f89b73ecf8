"""Templates and the 24-hour window from the command line, against a sandbox process that
keeps windows: the options, their mistakes (one line each, nothing sent), a whole campaign.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gupshup_async import SqliteWindowStore, TemplateDefinitions
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TEMPLATES, SANDBOX_TOKEN
from tests.servers import sandbox_process
from tests.test_cli import run as run_command

# The token comes from the environment, as users should give it (an option is visible in ps).
CREDENTIALS = ["--app-id", SANDBOX_APP_ID]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_command(*args, env={"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN, **(env or {})})


REMINDER = {
    "type": "template",
    "template": {
        "name": "appointment_reminder",
        "language": {"code": "en"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "{name}"},
                    {"type": "text", "text": "Friday 8pm"},
                ],
            }
        ],
    },
}
BUTTONS = {
    "type": "button",
    "body": {"text": "Hi {name}, is Friday 8pm still good?"},
    "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
}


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_process("--windows") as url:
        yield url


def _account(url: str) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = httpx.get(
        f"{url}/sandbox/account", timeout=10
    ).json()["by_recipient"]
    return found


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "reminder.json").write_text(json.dumps(REMINDER))
    (tmp_path / "buttons.json").write_text(json.dumps(BUTTONS))
    (tmp_path / "definitions.json").write_text(
        json.dumps(
            [
                {
                    "name": "appointment_reminder",
                    "language": "en",
                    "components": [{"type": "BODY", "text": "Hi {{1}}, see you {{2}}."}],
                }
            ]
        )
    )
    return tmp_path


def test_a_campaign_sends_the_template_where_the_window_is_closed(
    sandbox_url: str, files: Path
) -> None:
    rows = [(f"+9172{n:08d}", f"Guest {n}") for n in range(40)]
    (files / "guests.csv").write_text(
        "phone,name\n" + "".join(f"{to},{name}\n" for to, name in rows)
    )
    windows = SqliteWindowStore(files / "windows.db")  # as `receive --windows` keeps it
    wrote = {to for to, _ in rows[::2]}
    for to in wrote:  # they write: the sandbox opens their windows, the store learns it
        httpx.post(f"{sandbox_url}/sandbox/inbound", json={"from": to}, timeout=10)
        windows.user_wrote(to, time.time() - 1)
    windows.close()
    args = ["bulk", str(files / "guests.csv"), "--message", str(files / "buttons.json")]
    args += ["--windows", str(files / "windows.db"), "--outside-window", "template"]
    args += ["--template-instead", str(files / "reminder.json"), "--templates", "fetch"]
    args += ["--out", str(files / "out.jsonl")]
    done = run(*args, "--base-url", sandbox_url, *CREDENTIALS)
    assert done.returncode == 0, done.stderr
    assert re.search(r"of which as the template \(window not open\)\s+│\s+20", done.stdout)
    written = [json.loads(line) for line in (files / "out.jsonl").read_text().splitlines()]
    instead = {line["to"] for line in written if line["template_instead"]}
    assert instead == {to.lstrip("+") for to, _ in rows} - {to.lstrip("+") for to in wrote}
    account = _account(sandbox_url)
    for to, name in rows:
        [sent] = account[to.lstrip("+")]
        if to in wrote:
            assert sent["type"] == "button"
            assert sent["body"] == f"Hi {name}, is Friday 8pm still good?"
        else:
            assert (sent["type"], sent["template"]) == ("template", "appointment_reminder")
        assert sent["outside_window"] is False


def test_a_template_message_file_is_sent_and_checked_against_a_definitions_file(
    sandbox_url: str, files: Path
) -> None:
    message = files / "filled.json"
    filled = json.loads(json.dumps(REMINDER).replace("{name}", "Asha"))
    message.write_text(json.dumps(filled))
    to = "+919800000001"
    done = run("send", "--to", to, "--message", str(message), "--base-url", sandbox_url,
               *CREDENTIALS, "--templates", str(files / "definitions.json"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert account_types(sandbox_url, to) == ["template"]
    filled["template"]["components"][0]["parameters"].pop()
    message.write_text(json.dumps(filled))
    done = run("send", "--to", to, "--message", str(message), "--base-url", sandbox_url,
               *CREDENTIALS, "--templates", str(files / "definitions.json"))  # fmt: skip
    assert done.returncode == 2  # the input was wrong: refused, nothing sent (docs/cli.md)
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert "refused before sending: template.components[0].parameters" in done.stderr
    assert "takes 2 parameters" in done.stderr
    assert account_types(sandbox_url, to) == ["template"]  # nothing more was sent


def account_types(url: str, to: str) -> list[object]:
    return [sent["type"] for sent in _account(url).get(to.lstrip("+"), [])]


def test_refusing_outside_the_window_sends_nothing_and_says_so(
    sandbox_url: str, files: Path
) -> None:
    to = "+919800000002"
    args = ["send", "--to", to, "--body", "Back in stock", "--button", "buy:Buy"]
    args += ["--windows", str(files / "w.db"), "--outside-window", "refuse"]
    done = run(*args, "--base-url", sandbox_url, *CREDENTIALS)
    assert done.returncode == 1
    assert "24-hour window of 919800000002 is not known to be open" in done.stderr
    assert account_types(sandbox_url, to) == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--outside-window", "refuse"], "--outside-window refuse needs --windows"),
        (["--outside-window", "template", "--windows", "{w}"], "needs --template-instead"),
        (["--template-instead", "{reminder}"], "goes with --outside-window template"),
        (
            ["--outside-window", "template", "--windows", "{w}", "--template-instead", "{buttons}"],
            "must be a template message",
        ),
        (["--templates", "{buttons}"], "template definitions must be a JSON array"),
        (["--templates", "{missing}"], "No such file"),
    ],
)
def test_option_mistakes_are_one_line_and_nothing_is_sent(
    sandbox_url: str, files: Path, extra: list[str], says: str
) -> None:
    names = {
        "w": files / "w.db",
        "reminder": files / "reminder.json",
        "buttons": files / "buttons.json",
        "missing": files / "missing.json",
    }
    extra = [e.format(**names) for e in extra]
    to = "+919800000003"
    args = ["send", "--to", to, "--body", "Hi", "--button", "ok:OK", *extra]
    done = run(*args, "--base-url", sandbox_url, *CREDENTIALS)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert says in done.stderr
    assert account_types(sandbox_url, to) == []


def test_the_sandbox_refuses_a_broken_templates_file_in_one_line(files: Path) -> None:
    (files / "broken.json").write_text("{")
    done = run("sandbox", "--port", "0", "--templates", str(files / "broken.json"))
    assert done.returncode == 2
    assert "--templates" in done.stderr
    assert "Traceback" not in done.stderr


def test_templates_lists_the_app_s_and_saves_them_for_offline_checks(
    sandbox_url: str, tmp_path: Path
) -> None:
    done = run("templates", "--base-url", sandbox_url, *CREDENTIALS, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "appointment_reminder" in done.stdout
    assert "PAUSED" in done.stdout  # summer_sale: listed, and a send naming it would be refused
    assert "2: url (takes a parameter)" in done.stdout
    assert re.search(r"spring_collection .* 3 ", done.stdout)  # a carousel of 3 cards
    saved = tmp_path / "templates.json"
    done = run("templates", "--save", str(saved), "--base-url", sandbox_url, *CREDENTIALS)
    assert done.returncode == 0, done.stderr
    assert f"{len(SANDBOX_TEMPLATES)} templates written" in done.stderr
    listed = TemplateDefinitions.load(saved)
    assert ("cart_reminder", "en") in listed
    assert listed.get("cart_reminder", "en").named  # type: ignore[union-attr]
    done = run(
        "templates",
        *("--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID),
        env={"GUPSHUP_APP_TOKEN": "wrong-token-0000"},
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "AuthenticationError" in done.stderr
    assert "wrong-token" not in done.stderr
