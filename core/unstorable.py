"""Characters no text segbot keeps or sends may hold, as regular expressions.

Half of a UTF-16 pair on its own (a JSON `\\ud800` escape without its pair reads as one)
is no character: no UTF-8 text holds it, so no database does and no request carries it.
PostgreSQL's text holds no NUL either. Whoever reads text from outside (updates, CRM
records, YAML files, rules, templates) refuses these or replaces them (U+FFFD).
"""

LONE_SURROGATE = "[\ud800-\udfff]"
UNSTORABLE = "[\x00\ud800-\udfff]"  # a lone surrogate, or a NUL
