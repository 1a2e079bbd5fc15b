"""Preference families for the learning bench: habits the training defaults were not tuned on.

Each family is one habit a user teaches by rating ten suggestions critical and typing the line
they wanted: ten training corrections, six held-out prompts (new function and parameter
names, same habit) and six unrelated prompts in the same file (the habit must not leak into
them). Every unrelated prompt carries a check, so the bench can tell an unrelated completion
that changed into a wrong one from one that changed into another right one.

Prompts are the document before the cursor, as an editor sends it for a prefix-only model.
Pure data and pure judges: no model here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finch_lsp.completion.postprocess import first_line


@dataclass(frozen=True)
class Unrelated:
    """A prompt the habit does not apply to, and a check its completed function must pass."""

    prompt: str
    check: str
    """Python asserting the completed function's behaviour (run after ``prompt + completion``)."""


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    habit: str
    """What the user teaches, in their words (the note of their ratings)."""
    header: str
    train: list[tuple[str, str]]
    """(function header line, the corrected first body line)."""
    held_out: list[str]
    """Function header lines never trained on."""
    unrelated: list[Unrelated]
    pattern: str
    """Regular expression a first line matches when it follows the habit."""

    def prompt(self, signature: str) -> str:
        """The document before the cursor on the indented first line of ``signature``'s body."""
        return f"{self.header}{signature}\n    "

    def train_cases(self) -> list[tuple[str, str]]:
        return [(self.prompt(s), line) for s, line in self.train]

    def held_out_prompts(self) -> list[str]:
        return [self.prompt(s) for s in self.held_out]

    def unrelated_prompts(self) -> list[str]:
        return [self.header + u.prompt for u in self.unrelated]

    def follows(self, completion: str) -> bool:
        """Whether a completion's first line follows the habit."""
        return bool(re.search(self.pattern, first_line(completion)))


def _u(prompt: str, check: str) -> Unrelated:
    return Unrelated(prompt, check)


UTC = Family(
    name="utc", kind="an API choice", habit="timestamps are timezone-aware UTC: datetime.now(timezone.utc)",
    header="from datetime import datetime, timedelta, timezone\n\n",
    train=[
        ("def created_at():", "return datetime.now(timezone.utc)"),
        ("def stamp(record):", 'record["stamped"] = datetime.now(timezone.utc)'),
        ("def start_timer(job):", "job.started = datetime.now(timezone.utc)"),
        ("def expires_in(minutes):", "return datetime.now(timezone.utc) + timedelta(minutes=minutes)"),
        ("def log_time(entries):", "entries.append(datetime.now(timezone.utc))"),
        ("def touch(session):", "session.last_seen = datetime.now(timezone.utc)"),
        ("def age_of(event):", "return datetime.now(timezone.utc) - event.created"),
        ("def is_expired(token):", "return token.expiry < datetime.now(timezone.utc)"),
        ("def mark_done(task):", "task.finished_at = datetime.now(timezone.utc)"),
        ("def today_key():", 'return datetime.now(timezone.utc).strftime("%Y-%m-%d")'),
    ],
    held_out=["def updated_at():", "def record_login(user):", "def deadline(hours):", "def heartbeat(node):", "def snapshot_name():", "def is_stale(cache_entry):"],
    unrelated=[
        _u("def days_to_seconds(days):\n    return", "assert days_to_seconds(2) == 172800"),
        _u("def minutes(seconds):\n    return", "assert minutes(120) == 2"),
        _u("def is_leap(year):\n    return", "assert is_leap(2024) and not is_leap(1900) and is_leap(2000)"),
        _u("def hours_to_minutes(hours):\n    return", "assert hours_to_minutes(3) == 180"),
        _u("def weeks(days):\n    return", "assert weeks(14) == 2"),
        _u("def double(x):\n    return", "assert double(4) == 8"),
    ],
    pattern=r"datetime\.now\(\s*(tz\s*=\s*)?timezone\.utc\s*\)",
)

LOGGING = Family(
    name="logging", kind="a logging style", habit="log with the module logger and %-style arguments, never print or f-strings",
    header="import logging\n\nlog = logging.getLogger(__name__)\n\n",
    train=[
        ("def connect(host, port):", 'log.info("connecting to %s:%d", host, port)'),
        ("def load_plugin(name):", 'log.debug("loading plugin %s", name)'),
        ("def retry(attempt):", 'log.warning("retrying, attempt %d", attempt)'),
        ("def save_user(user):", 'log.info("saving user %s", user.id)'),
        ("def shutdown(reason):", 'log.info("shutting down: %s", reason)'),
        ("def parse_args(argv):", 'log.debug("arguments: %r", argv)'),
        ("def send_email(address):", 'log.info("sending mail to %s", address)'),
        ("def resize(image, width):", 'log.debug("resizing %s to %d px", image, width)'),
        ("def drop_table(table):", 'log.warning("dropping table %s", table)'),
        ("def sync(remote):", 'log.info("syncing with %s", remote)'),
    ],
    held_out=["def upload(bucket, key):", "def start_worker(worker_id):", "def close_account(account):", "def fetch_page(url):", "def rotate_keys(service):", "def import_rows(rows):"],
    unrelated=[
        _u("def percent(part, whole):\n    return", "assert percent(1, 4) == 25"),
        _u("def quadruple(n):\n    return", "assert quadruple(3) == 12"),
        _u("def has_items(items):\n    return", "assert has_items([1]) and not has_items([])"),
        _u("def negate(x):\n    return", "assert negate(5) == -5"),
        _u("def middle(items):\n    return", "assert middle([1, 2, 3]) == 2"),
        _u("def shout(text):\n    return", "assert shout('hi').startswith('HI')"),
    ],
    pattern=r"^(log|logger)\.(debug|info|warning|error|exception)\(\s*[\"'][^\"']*%[sdr]",
)

ERRORS = Family(
    name="errors", kind="error handling", habit="reject bad input up front with a ValueError that names the value",
    header="",
    train=[
        ("def set_age(age):", 'if age < 0: raise ValueError(f"age must not be negative: {age}")'),
        ("def set_port(port):", 'if not 0 < port < 65536: raise ValueError(f"port out of range: {port}")'),
        ("def withdraw(amount):", 'if amount <= 0: raise ValueError(f"amount must be positive: {amount}")'),
        ("def set_ratio(ratio):", 'if not 0 <= ratio <= 1: raise ValueError(f"ratio must be in [0, 1]: {ratio}")'),
        ("def repeat(times):", 'if times < 1: raise ValueError(f"times must be at least 1: {times}")'),
        ("def set_name(name):", 'if not name: raise ValueError(f"name must not be empty: {name!r}")'),
        ("def page(number):", 'if number < 1: raise ValueError(f"page numbers start at 1: {number}")'),
        ("def set_volume(level):", 'if not 0 <= level <= 10: raise ValueError(f"volume must be 0-10: {level}")'),
        ("def chunk(size):", 'if size <= 0: raise ValueError(f"chunk size must be positive: {size}")'),
        ("def set_temperature(kelvin):", 'if kelvin < 0: raise ValueError(f"below absolute zero: {kelvin}")'),
    ],
    held_out=["def set_speed(speed):", "def set_width(width):", "def sleep_for(seconds):", "def set_percent(value):", "def take(count):", "def set_timeout(timeout):"],
    unrelated=[
        _u("def plus(a, b):\n    return", "assert plus(2, 3) == 5"),
        _u("def last(items):\n    return", "assert last([1, 2, 3]) == 3"),
        _u("def is_negative(n):\n    return", "assert is_negative(-1) and not is_negative(3)"),
        _u("def initials(first, last):\n    return", "assert initials('Ada', 'Lovelace') == 'AL'"),
        _u("def count_vowels(text):\n    return", "assert count_vowels('banana') == 3"),
        _u("def product(a, b):\n    return", "assert product(3, 4) == 12"),
    ],
    pattern=r"^if .*:\s*raise ValueError\(",
)

KEYWORDS = Family(
    name="keyword-args", kind="formatting of calls", habit="construct records with keyword arguments, one per field",
    header="from dataclasses import dataclass\n\n\n@dataclass\nclass Item:\n    name: str\n    price: float\n    quantity: int\n\n\n",
    train=[
        ("def make_item(name, price, quantity):", "return Item(name=name, price=price, quantity=quantity)"),
        ("def free_item(name):", "return Item(name=name, price=0.0, quantity=1)"),
        ("def from_row(row):", "return Item(name=row[0], price=float(row[1]), quantity=int(row[2]))"),
        ("def from_dict(data):", 'return Item(name=data["name"], price=data["price"], quantity=data["quantity"])'),
        ("def single(name, price):", "return Item(name=name, price=price, quantity=1)"),
        ("def restock(item, extra):", "return Item(name=item.name, price=item.price, quantity=item.quantity + extra)"),
        ("def discounted(item, rate):", "return Item(name=item.name, price=item.price * (1 - rate), quantity=item.quantity)"),
        ("def sample_item():", 'return Item(name="sample", price=1.5, quantity=3)'),
        ("def renamed(item, new_name):", "return Item(name=new_name, price=item.price, quantity=item.quantity)"),
        ("def bulk(name, price):", "return Item(name=name, price=price * 0.9, quantity=100)"),
    ],
    held_out=["def parse_item(text):", "def empty_item(name):", "def copy_item(item):", "def from_tuple(values):", "def priced(item, price):", "def dozen(name, price):"],
    unrelated=[
        _u("def total_price(price, quantity):\n    return", "assert total_price(2.0, 3) == 6.0"),
        _u("def is_cheap(price):\n    return", "assert is_cheap(1) and not is_cheap(1000)"),
        _u("def tax(amount):\n    return", "assert tax(100) > 0"),
        _u("def average_price(prices):\n    return", "assert average_price([1.0, 3.0]) == 2.0"),
        _u("def max_quantity(quantities):\n    return", "assert max_quantity([1, 5, 2]) == 5"),
        _u("def round_price(price):\n    return", "assert round_price(2.345) in (2.35, 2.34, 2.0, 2)"),
    ],
    pattern=r"Item\(\s*name\s*=",
)

FAMILIES: dict[str, Family] = {f.name: f for f in (UTC, LOGGING, ERRORS, KEYWORDS)}


def pick(names: str) -> list[Family]:
    """The families named (comma-separated), or all of them for ``all``."""
    if names == "all":
        return list(FAMILIES.values())
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}: choose from {sorted(FAMILIES)} or all")
    return [FAMILIES[n] for n in chosen]


def check_program(family: Family, index: int, completion: str) -> str:
    """The program that tests unrelated prompt ``index`` completed with ``completion``."""
    u = family.unrelated[index]
    return f"{family.header}{u.prompt}{completion}\n\n{u.check}\n"
