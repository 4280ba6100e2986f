"""The demo genus ``grammar``: a small, real parser of short English commands.

"Create a calendar" becomes ``{"intent": "create", "object": "calendar", ...}``.
It splits sentences, tokenises, skips politeness ("please", "could you"),
finds the verb, then the noun phrase it acts on (determiner, adjectives, a
multi-word head such as "meeting note") and the prepositional phrases after
it. No model, no data files: a lexicon and a few rules, enough to show Prism
turning a typed method into a REST route, an OpenAPI path and a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict

from terrarium.prism.commands import expose


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


VERBS = _words(
    """add archive assign book build buy call cancel change check clear close copy count
    create delete describe disable display download draft edit email enable erase explain
    export fetch find get import invite join list make mark move note open order pause pay
    plan play print read remind remove rename restore review run save schedule search send
    set share show sort start stop summarise summarize track translate turn update upload
    write"""
)
DETERMINERS = _words(
    "a an the this that these those my your our their his her its some any every each all "
    "another no"
)
ADJECTIVES = _words(
    """new old empty blank quick short long small big large little simple daily weekly
    monthly yearly annual shared private public personal important urgent recurring final
    draft first last next previous current other red green blue black white yellow full
    brief detailed temporary default main favourite favorite recent"""
)
PREPOSITIONS = _words(
    "for to with at on in from about by into onto until before after during under over "
    "called named titled"
)
PRONOUNS = _words("me you him her it us them myself everyone everybody")
CONJUNCTIONS = _words("and or then but")
POLITE = _words("please kindly")
INTERJECTIONS = _words("hey hi hello ok okay so now")
NEGATIONS = _words("don't dont not never")
#: Openings that ask for an action without being it: "could you", "I want to", "let's".
LEADS = (
    ("can", "you"),
    ("could", "you"),
    ("would", "you"),
    ("will", "you"),
    ("i", "want", "to"),
    ("i", "need", "to"),
    ("i'd", "like", "to"),
    ("i", "would", "like", "to"),
    ("let's",),
    ("let", "me"),
    ("let", "us"),
    ("go", "ahead", "and"),
)

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+|-[A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class Token(TypedDict):
    text: str
    tag: str


class Complement(TypedDict):
    preposition: str
    text: str


class Clause(TypedDict):
    """One sentence, parsed."""

    sentence: str
    intent: str | None
    object: str | None
    determiner: str | None
    quantity: int | None
    modifiers: list[str]
    recipient: str | None
    complements: list[Complement]
    negated: bool
    polite: bool
    tokens: list[Token]


class Parse(Clause):
    """The first sentence that asks for something, and every sentence."""

    sentences: list[Clause]


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def tokenize(sentence: str) -> list[str]:
    return [match.group().replace("\u2019", "'") for match in _TOKEN.finditer(sentence)]


def tag(word: str) -> str:
    """The word's class out of context; ``_Reader`` settles the ambiguous ones."""
    lower = word.lower()
    if not word[0].isalnum():
        return "PUNCT"
    if word.isascii() and word.isdigit():  # "²" is a digit that int() refuses
        return "NUM"
    for tag_name, words in (
        ("POLITE", POLITE),
        ("NEG", NEGATIONS),
        ("DET", DETERMINERS),
        ("PRON", PRONOUNS),
        ("PREP", PREPOSITIONS),
        ("CONJ", CONJUNCTIONS),
        ("VERB", VERBS),
        ("ADJ", ADJECTIVES),
    ):
        if lower in words:
            return tag_name
    return "NOUN"


def _lemma(word: str) -> str:
    lower = word.lower()
    if lower in VERBS:
        return lower
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if lower.endswith(suffix) and lower[: -len(suffix)] + replacement in VERBS:
            return lower[: -len(suffix)] + replacement
    return lower


def _noun(word: str) -> str:
    """Lower case, except acronyms and names met mid-sentence ("PDF", "Alice")."""
    return word if word.isupper() and len(word) > 1 else word.lower()


@dataclass
class _Reader:
    """A cursor over one sentence's words; each step consumes what it recognises."""

    words: list[str]
    tags: list[str]
    at: int = 0
    polite: bool = False
    negated: bool = False
    complements: list[Complement] = field(default_factory=list)

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        if index < len(self.words):
            return self.words[index], self.tags[index]
        return "", "END"

    def lowers(self, count: int) -> tuple[str, ...]:
        return tuple(word.lower() for word in self.words[self.at : self.at + count])

    def skip_openings(self) -> None:
        """Politeness, interjections, "could you", "do not": noted, then passed over."""
        while self.at < len(self.words):
            word, kind = self.peek()
            lower = word.lower()
            lead = next((lead for lead in LEADS if self.lowers(len(lead)) == lead), None)
            if lead is not None:
                self.at += len(lead)
            elif kind == "POLITE":
                self.polite = True
                self.at += 1
            elif lower in INTERJECTIONS or kind == "PUNCT":
                self.at += 1
            elif self.lowers(2) == ("do", "not"):
                self.negated = True
                self.at += 2
            elif kind == "NEG":
                self.negated = True
                self.at += 1
            else:
                return

    def verb(self) -> str | None:
        """The action: a known verb, or any first word that cannot start a noun phrase."""
        word, kind = self.peek()
        if kind == "VERB" or (kind == "NOUN" and self.peek(1)[1] in ("DET", "PRON", "NUM")):
            self.at += 1
            return _lemma(word)
        return None

    def recipient(self) -> str | None:
        """ "send me a report": a pronoun followed by another noun phrase."""
        word, kind = self.peek()
        if kind == "PRON" and self.peek(1)[1] in ("DET", "ADJ", "NUM", "NOUN", "VERB"):
            self.at += 1
            return word.lower()
        return None

    def noun_phrase(self) -> tuple[str | None, str | None, int | None, list[str]]:
        """(head, determiner, quantity, modifiers); nouns run until a preposition or the end."""
        determiner = quantity = None
        modifiers: list[str] = []
        word, kind = self.peek()
        if kind == "PRON":
            self.at += 1
            return word.lower(), None, None, []
        if kind == "DET":
            determiner = word.lower()
            self.at += 1
        if self.peek()[1] == "NUM":
            quantity = int(self.peek()[0])
            self.at += 1
        head: list[str] = []
        while True:
            word, kind = self.peek()
            if kind == "ADJ" and not head and self.peek(1)[1] not in ("END", "PUNCT", "PREP"):
                modifiers.append(word.lower())
            elif kind in ("NOUN", "VERB", "ADJ", "NUM") or (
                word.lower() == "of" and head and self.peek(1)[1] in ("NOUN", "DET", "ADJ")
            ):
                head.append(_noun(word))
            else:
                break
            self.at += 1
        return (" ".join(head) or None), determiner, quantity, modifiers

    def complements_and_rest(self) -> None:
        """Prepositional phrases after the object: ("for", "tomorrow"), ("with", "Alice")."""
        while self.at < len(self.words):
            word, kind = self.peek()
            self.at += 1
            if kind == "POLITE":
                self.polite = True
            elif kind == "CONJ":
                return
            elif kind == "PREP":
                start = self.at
                while (following := self.peek()[1]) not in ("PREP", "PUNCT", "POLITE", "END"):
                    # "for Alice and Bob" goes on; "... and send it" is another clause.
                    if following == "CONJ" and self.peek(1)[1] not in ("NOUN", "DET", "NUM"):
                        break
                    self.at += 1
                text = " ".join(self.words[start : self.at])
                if text:
                    self.complements.append({"preposition": word.lower(), "text": text})


def parse_sentence(sentence: str) -> Clause:
    words = tokenize(sentence)
    tags = [tag(word) for word in words]
    reader = _Reader(words, tags)
    reader.skip_openings()
    intent = reader.verb()
    recipient = reader.recipient() if intent else None
    head, determiner, quantity, modifiers = reader.noun_phrase()
    reader.complements_and_rest()
    if any(kind == "POLITE" for kind in tags):
        reader.polite = True
    return {
        "sentence": sentence,
        "intent": intent,
        "object": head,
        "determiner": determiner,
        "quantity": quantity,
        "modifiers": modifiers,
        "recipient": recipient,
        "complements": reader.complements,
        "negated": reader.negated,
        "polite": reader.polite,
        "tokens": [{"text": word, "tag": kind} for word, kind in zip(words, tags, strict=True)],
    }


def parse(text: str) -> Parse:
    """Parse every sentence; the top level is the first one with an intent."""
    clauses = [parse_sentence(sentence) for sentence in sentences(text)]
    first = next((clause for clause in clauses if clause["intent"]), None)
    if first is None:
        first = clauses[0] if clauses else parse_sentence("")
    return {**first, "sentences": clauses}


class Grammar:
    """Parses short English commands into an intent and its object."""

    genus_name = "grammar"
    cli_description = "Parse short English commands: the verb, its object, their modifiers."

    @expose(
        help="Parse text into sentences, tokens, the intent (verb) and its object.",
        examples=[{"text": "Create a calendar"}, {"text": "Please add a new meeting note"}],
        aliases=["p"],
    )
    def parse(self, text: str) -> Parse:
        return parse(text)

    def invoke(self, text: Any) -> Parse:
        """As a flux agent's handler (the demo pipeline's ``parse`` stage): parse text."""
        if not isinstance(text, str):
            raise TypeError("grammar parses text")
        return parse(text)
