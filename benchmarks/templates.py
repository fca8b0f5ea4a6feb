"""What one message's template costs to render, per subscriber, in the sender's thread.

Renders a typical message for MESSAGES subscribers of mixed languages and purchase
facts, three ways: written without filters (names, counts, `'%.2f'|format`, strftime),
with the number filters (money, number, percent, date in each subscriber's locale), and
printing bare floats and Decimals. Each runs ROUNDS times and its best run counts, in
CPU time (the thread's), so other processes on a busy machine do not count. Prints one
JSON line of microseconds per render.

    python -m benchmarks.templates [--messages 2000]   (from the repo root)

Target: the sender renders up to 1,000 messages/s, so a render should stay well under
a millisecond; the number filters should cost tens of microseconds, not hundreds.
"""

import argparse
import json
import random
import time
from datetime import date, timedelta
from decimal import Decimal

import jinja2

from broadcasts.templates import CustomerFacts, TemplateContext, compile_template, render

ROUNDS = 7
LANGUAGES = ("en", "es", "de", "ru", "pt-br", "fr", None)
CURRENCIES = ("EUR", "USD", "GBP", None)
TEMPLATES = {
    "plain": (
        "Hi <b>{{ first_name }}</b>! You have {{ customer.orders }} orders, "
        "{{ '%.2f'|format(customer.total_spent) }} spent, last on "
        "{{ customer.last_purchase.strftime('%d.%m.%Y') }}. {{ stage }}"
    ),
    "filters": (
        "Hi <b>{{ first_name }}</b>! You have {{ customer.orders | number }} orders, "
        "{{ customer.total_spent | money }} spent, last on "
        "{{ customer.last_purchase | date }}. {{ attr.discount | percent }} off!"
    ),
    "bare_numbers": (
        "Hi <b>{{ first_name }}</b>! {{ customer.total_spent }} spent, "
        "{{ customer.total_spent * 0.9 }} after the discount, {{ attr.score }} points"
    ),
}


def contexts(count: int) -> list[TemplateContext]:
    rng = random.Random(1)
    return [
        TemplateContext(
            first_name=f"Name{number} & <Co>",
            language=rng.choice(LANGUAGES),
            attr={"discount": rng.choice((0.1, 0.15, 0.2)), "score": rng.random() * 1000},
            customer=CustomerFacts(
                orders=rng.randint(1, 40),
                total_spent=Decimal(rng.randint(0, 10**6)) / 100,
                last_purchase=date(2026, 1, 1) + timedelta(days=rng.randint(0, 300)),
                currency=rng.choice(CURRENCIES),
            ),
        )
        for number in range(count)
    ]


def microseconds_per_render(template: jinja2.Template, people: list[TemplateContext]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.thread_time()
        for person in people:
            render(template, person)
        best = min(best, time.thread_time() - started)
    return round(best / len(people) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    arguments = parser.parse_args()
    people = contexts(arguments.messages)
    result: dict[str, object] = {"benchmark": "templates", "messages": arguments.messages}
    for name, source in TEMPLATES.items():
        result[f"{name}_us_per_render"] = microseconds_per_render(compile_template(source), people)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
