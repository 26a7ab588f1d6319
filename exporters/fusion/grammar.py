"""The Lua-table grammar that the Fusion ``.setting`` writer and reader share."""

#: Words the Lua tokenizer takes as keywords, not names: no tool or spline is named one.
LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "global",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)
