"""The demo genus ``grammar``: sentences, tokens, the verb and its object."""

from __future__ import annotations

import pytest

from terrarium.demo.grammar import Grammar, parse, sentences, tokenize
from terrarium.prism import CLICapable, Prism


def test_create_a_calendar() -> None:
    result = parse("Create a calendar")
    assert result["intent"] == "create"
    assert result["object"] == "calendar"
    assert result["determiner"] == "a"
    assert result["modifiers"] == []
    assert result["polite"] is False
    assert [(t["text"], t["tag"]) for t in result["tokens"]] == [
        ("Create", "VERB"),
        ("a", "DET"),
        ("calendar", "NOUN"),
    ]


def test_a_multi_word_object_keeps_its_adjectives_apart() -> None:
    result = parse("Please add a new meeting note")
    assert result["intent"] == "add"
    assert result["object"] == "meeting note"
    assert result["modifiers"] == ["new"]
    assert result["polite"] is True


@pytest.mark.parametrize(
    ("text", "intent", "obj"),
    [
        ("create the calendar", "create", "calendar"),
        ("Could you please delete my old files?", "delete", "files"),
        ("I want to schedule a weekly team meeting", "schedule", "team meeting"),
        ("Open it", "open", "it"),
        ("Summarize the report", "summarize", "report"),
        ("Creates a list of tasks", "create", "list of tasks"),
        ("Translate this page", "translate", "page"),
    ],
)
def test_intent_and_object(text: str, intent: str, obj: str) -> None:
    result = parse(text)
    assert (result["intent"], result["object"]) == (intent, obj)


def test_an_unknown_verb_is_recognised_by_its_place() -> None:
    result = parse("Defragment the disk")
    assert (result["intent"], result["object"]) == ("defragment", "disk")


def test_prepositional_phrases_become_complements() -> None:
    result = parse("Schedule a meeting with Alice and Bob on Monday")
    assert result["object"] == "meeting"
    assert result["complements"] == [
        {"preposition": "with", "text": "Alice and Bob"},
        {"preposition": "on", "text": "Monday"},
    ]


def test_recipient_quantity_negation_and_acronyms() -> None:
    assert parse("Send me the weekly report")["recipient"] == "me"
    assert parse("Create 3 notes")["quantity"] == 3
    negated = parse("Don't delete the PDF files")
    assert negated["negated"] is True
    assert negated["object"] == "PDF files"


def test_the_first_sentence_with_an_intent_leads() -> None:
    result = parse("Hello there. Create a calendar for work! Then rest.")
    assert [clause["sentence"] for clause in result["sentences"]] == [
        "Hello there.",
        "Create a calendar for work!",
        "Then rest.",
    ]
    assert result["sentence"] == "Create a calendar for work!"
    assert result["intent"] == "create"


def test_text_without_a_request_has_no_intent() -> None:
    assert parse("")["intent"] is None
    assert parse("")["sentences"] == []
    no_verb = parse("a calendar please")
    assert no_verb["intent"] is None
    assert no_verb["object"] == "calendar"


def test_sentences_and_tokens() -> None:
    assert sentences("One. Two?  Three!\nFour") == ["One.", "Two?", "Three!", "Four"]
    assert tokenize("Don't stop, e-mail me.") == ["Don't", "stop", ",", "e-mail", "me", "."]


async def test_grammar_is_a_genus_with_parse() -> None:
    grammar = Grammar()
    assert isinstance(grammar, CLICapable)
    prism = Prism()
    genus = prism.register(grammar)
    assert [command.name for command in genus.visible()] == ["parse"]
    result = await prism.call("grammar", "parse", {"text": "Create a calendar"})
    assert result["intent"] == "create" and result["object"] == "calendar"
    schema = genus.command("parse").signature.result_schema()
    assert "intent" in schema["properties"]
