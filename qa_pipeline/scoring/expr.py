"""Boolean phrase expressions: ``退款 && !已退款``, ``(投诉 || 举报) && !不是``.

Grammar (``!`` binds tightest, then ``&&``, then ``||``)::

    expr := and ("||" and)*
    and  := not ("&&" not)*
    not  := "!" not | atom
    atom := "(" expr ")" | '"' text '"' | phrase

A bare phrase is any run of characters other than ``&|!()"``, trimmed, so English phrases
may contain spaces (``cancel my account && !not``).  An expression is evaluated per
utterance; the evidence is the spans of its positive phrases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

_SPECIAL = set('&|!()"')


@dataclass(frozen=True)
class Phrase:
    text: str


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class All:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class AnyOf:
    operands: tuple["Node", ...]


Node = Union[Phrase, Not, All, AnyOf]


def phrases_of(node: Node) -> list[str]:
    if isinstance(node, Phrase):
        return [node.text]
    if isinstance(node, Not):
        return phrases_of(node.operand)
    return [p for child in node.operands for p in phrases_of(child)]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"expr {self.text!r}: {message} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def parse(self) -> Node:
        node = self.parse_or()
        self.skip()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return node

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while self.peek("||"):
            self.pos += 2
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else AnyOf(tuple(nodes))

    def parse_and(self) -> Node:
        nodes = [self.parse_not()]
        while self.peek("&&"):
            self.pos += 2
            nodes.append(self.parse_not())
        return nodes[0] if len(nodes) == 1 else All(tuple(nodes))

    def parse_not(self) -> Node:
        if self.peek("!"):
            self.pos += 1
            return Not(self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("expected a phrase")
        ch = self.text[self.pos]
        if ch == "(":
            self.pos += 1
            node = self.parse_or()
            if not self.peek(")"):
                raise self.error("missing ')'")
            self.pos += 1
            return node
        if ch == '"':
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise self.error("unterminated quote")
            phrase = self.text[self.pos + 1 : end].strip()
            self.pos = end + 1
            if not phrase:
                raise self.error("empty phrase")
            return Phrase(phrase)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _SPECIAL:
            self.pos += 1
        phrase = self.text[start : self.pos].strip()
        if not phrase:
            raise self.error(f"expected a phrase, found {ch!r}")
        return Phrase(phrase)


def parse_expr(text: str) -> Node:
    """Parse ``text``; raises ValueError naming the position of a syntax error."""
    return _Parser(text).parse()
