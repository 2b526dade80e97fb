"""Grounding scores of generated captions against their references (pure Python, no torch).

For ``hyps = {image: caption}`` and ``refs = {image: [caption, ...]}``:

* **object hallucination** (CHAIR, Rohrbach et al. 2018, against the references instead of
  COCO's segmentation labels): a caption hallucinates a COCO object when it names a class
  (``training.coco``; person excluded) that none of the image's references mentions.
  ``chair_s`` is the share of captions with at least one such class (the literature's CHAIR-s,
  per sentence: the table's "object halluc."), ``chair_i`` the share of named classes that are
  hallucinated (CHAIR-i, per mention; a class named twice in a caption counts once).
* **person hallucination**: among images whose references name no person, the share of
  captions that name one (``person_n`` is that number of images).
* **subject named**: the caption's subject (its first subject noun, ``subject()``) appears in a
  reference (``subject_named()``; rules there).
* **repeated words**: captions in which a content word occurs twice or more, and captions with
  a word immediately repeated ("white white").

Words are ``training.text.words``' tokens (lowercase, ``[^a-z0-9 ]`` -> space), the same rule
as the app's tokenizer; it is restated here so that scoring needs no torch.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

try:
    from training import coco
except ImportError:  # run as training/eval/score.py: the repository root is not on the path
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    from training import coco

__all__ = ["words", "object_classes", "reference_classes", "names_person", "refs_name_person",
           "subject", "subject_named", "repeats", "score", "per_image", "fit_veto_threshold", "NAMES"]

PERSON = coco.PERSON


def words(caption: str) -> List[str]:
    """training.text.words: lowercase, keep [a-z0-9] (torch-free copy)."""
    return re.sub(r"[^a-z0-9 ]+", " ", caption.lower()).split()


# ---------------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------------

# Two-word class names (and their plurals) are matched as phrases before single words, in
# captions and references alike, so "a hot dog" names a hot dog, never a dog, and "a teddy
# bear" never a bear.
_PHRASES: Dict[Tuple[str, str], int] = {}
for _i, _c in enumerate(coco.CLASSES):
    _w = _c.split()
    if len(_w) == 2:
        _PHRASES[(_w[0], _w[1])] = _i
        _pl = _w[1] + ("es" if _w[1].endswith(("ch", "sh", "ss", "x")) else "s")
        _PHRASES[(_w[0], _pl)] = _i
for _p, _c in {"hair dryer": "hair drier", "hair dryers": "hair drier", "tennis racquet": "tennis racket",
               "tennis racquets": "tennis racket", "mobile phone": "cell phone", "mobile phones": "cell phone",
               "dining tables": "dining table", "wine glasses": "wine glass", "fire hydrants": "fire hydrant"}.items():
    _PHRASES[tuple(_p.split())] = coco.CLASSES.index(_c)
# one-word spellings of two-word classes
_SINGLE_EXTRA = {"hotdog": coco.CLASSES.index("hot dog"), "hotdogs": coco.CLASSES.index("hot dog"),
                 "teddy": coco.CLASSES.index("teddy bear")}

# Words that coco.py leaves out because they have other common meanings ("orange" the colour,
# "tie" the verb, "train" the verb, "table", "glass", ...). A caption naming them is not counted
# as naming the object, but a reference using them counts as mentioning it: a reference that
# says "table" does not make a caption's "dining table" a hallucination.
_REF_LOOSE = {
    "train": "train", "trains": "train", "tie": "tie", "ties": "tie", "necktie": "tie",
    "orange": "orange", "oranges": "orange", "mouse": "mouse", "remote": "remote",
    "remotes": "remote", "controller": "remote", "table": "dining table", "tables": "dining table",
    "glass": "wine glass", "glasses": "wine glass", "wine": "wine glass", "light": "traffic light",
    "lights": "traffic light", "sign": "stop sign", "signs": "stop sign", "meter": "parking meter",
    "meters": "parking meter", "ball": "sports ball", "balls": "sports ball", "football": "sports ball",
    "soccer": "sports ball", "basketball": "sports ball", "volleyball": "sports ball",
    "bat": "baseball bat", "bats": "baseball bat", "glove": "baseball glove", "gloves": "baseball glove",
    "mitt": "baseball glove", "plant": "potted plant", "plants": "potted plant",
    "dryer": "hair drier", "drier": "hair drier", "ski": "skis", "computer": "laptop",
    "computers": "laptop", "monitor": "tv", "screen": "tv", "cellphones": "cell phone",
    "hydrant": "fire hydrant", "bike": "motorcycle", "bikes": "motorcycle",
}
_REF_LOOSE = {w: coco.CLASSES.index(c) for w, c in _REF_LOOSE.items()}


def _mentions(tokens: Sequence[str]) -> List[Tuple[int, int, int]]:
    """(class, start, end) of every class mention; two-word phrases first."""
    out = []
    i = 0
    while i < len(tokens):
        if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) in _PHRASES:
            out.append((_PHRASES[(tokens[i], tokens[i + 1])], i, i + 2))
            i += 2
            continue
        w = tokens[i]
        c = coco.WORD_CLASS.get(w, _SINGLE_EXTRA.get(w))
        if c is not None:
            out.append((c, i, i + 1))
        i += 1
    return out


def object_classes(caption: str) -> Set[int]:
    """The non-person COCO classes a caption names (coco.WORD_CLASS words, two-word phrases)."""
    return {c for c, _, _ in _mentions(words(caption)) if c != PERSON}


def reference_classes(refs: Sequence[str]) -> Set[int]:
    """The classes any reference mentions: as object_classes, plus the ambiguous words."""
    out: Set[int] = set()
    for r in refs:
        t = words(r)
        out |= {c for c, _, _ in _mentions(t)}
        out |= {_REF_LOOSE[w] for w in t if w in _REF_LOOSE}
    return out


# ---------------------------------------------------------------------------------------------
# Persons
# ---------------------------------------------------------------------------------------------

_COCO_PERSON_WORDS = frozenset(w for w, c in coco.WORD_CLASS.items() if c == PERSON)
# Person nouns coco.py lacks that are common in Flickr8k/COCO captions; they count on both sides.
_PERSON_EXTRA = frozenset("""someone somebody climber climbers swimmer swimmers runner runners
    hiker hikers dancer dancers tourist tourists officer officers policeman policemen soldier
    soldiers athlete athletes motorcyclist motorcyclists spectators spectator audience fans
    performer performers musician musicians student students team teams teen teens infant
    infants mother father mom dad friends bride groom chef cowboy wrestlers wrestler bicyclist
    bicyclists cheerleader cheerleaders diver divers batter catcher umpire goalie jockey""".split())
PERSON_WORDS = _COCO_PERSON_WORDS | _PERSON_EXTRA
# Pronouns only say "a person" in a reference (in a caption they follow a person word anyway).
_REF_PERSON_ONLY = frozenset("he she him his her hers himself herself".split())
# Collective words that are quantifiers before "of" ("a couple of dogs", "a family of ducks").
_COLLECTIVE = frozenset("couple family crowd team teams group".split())
_ANIMAL_IDS = frozenset(coco.CLASSES.index(c) for c in
                        ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"])


def _person_positions(tokens: Sequence[str]) -> List[int]:
    out = []
    for i, w in enumerate(tokens):
        if w not in PERSON_WORDS:
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if w in _COLLECTIVE and nxt == "of":
            continue
        if w in ("male", "female") and (coco.WORD_CLASS.get(nxt, PERSON) != PERSON or nxt in SUBJECT_EXTRA):
            continue  # "a female dog", "a male lion"
        out.append(i)
    return out


def names_person(caption: str) -> bool:
    return bool(_person_positions(words(caption)))


def refs_name_person(refs: Sequence[str]) -> bool:
    for r in refs:
        t = words(r)
        if _person_positions(t) or any(w in _REF_PERSON_ONLY for w in t):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Subject
# ---------------------------------------------------------------------------------------------

# "a group of people" -> people: these nouns before "of" are quantifiers, the subject comes after.
QUANTIFIERS = frozenset("""group groups couple pair herd flock bunch plate plates pile lot lots number
    few some crowd team family pack line row stack variety set handful piece slice bowl""".split())
# Subject nouns beyond the COCO class words and person words: common subjects of Flickr8k/COCO
# captions that name no COCO class. Kept small; they match a reference by word (singular/plural).
SUBJECT_EXTRA = frozenset("""animal animals deer goat goats monkey monkeys camel camels pig pigs chicken
    chickens squirrel squirrels fish donkey donkeys lion lions tiger tigers kitchen bathroom bedroom
    room street road city building buildings field beach table tables food meal fruit vegetables
    train trains sign tower desk computer""".split())

# Specific person words must appear in a reference; words of one group stand for each other.
_SPECIFIC_GROUPS = [
    "man men guy guys gentleman gentlemen male males father dad groom policeman policemen cowboy",
    "woman women lady ladies female females mother mom bride",
    "boy boys", "girl girls", "baby babies infant infants", "toddler toddlers",
    "teenager teenagers teen teens",
]
_SPECIFIC = {w: frozenset(g.split()) for g in _SPECIFIC_GROUPS for w in g.split()}
# "child"/"kid" are the generic words for a young person: any child word in a reference matches.
_CHILD_GENERIC = frozenset("child children kid kids".split())
_CHILD_ANY = _CHILD_GENERIC | frozenset("boy boys girl girls baby babies infant infants toddler toddlers".split())

SUBJECT_WORDS = frozenset(coco.WORD_CLASS) | PERSON_WORDS | SUBJECT_EXTRA | frozenset(_SINGLE_EXTRA)

_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "geese": "goose",
              "knives": "knife", "mice": "mouse", "policemen": "policeman", "gentlemen": "gentleman",
              "sheep": "sheep", "fish": "fish", "deer": "deer", "skis": "ski", "scissors": "scissors"}


def _lemma(w: str) -> str:
    """Singular of a caption noun (enough for the subject lexicon: dogs, buses, puppies, men)."""
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes", "uses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def subject(caption: str) -> Optional[Tuple[str, Optional[int]]]:
    """(word, COCO class or None) of the caption's first subject noun, or None.

    Scans left to right for the first word of SUBJECT_WORDS (a two-word class phrase counts as
    one noun), skipping a quantifier followed by "of" ("a group of people" -> people).
    """
    t = words(caption)
    i = 0
    while i < len(t):
        w = t[i]
        if w in QUANTIFIERS and i + 1 < len(t) and t[i + 1] == "of":
            i += 2
            continue
        if i + 1 < len(t) and (w, t[i + 1]) in _PHRASES:
            return w + " " + t[i + 1], _PHRASES[(w, t[i + 1])]
        if w in SUBJECT_WORDS:
            if w in PERSON_WORDS and i in _person_positions(t):
                return w, PERSON
            if w in PERSON_WORDS:  # "female dog", "couple of" (handled above): not a person here
                i += 1
                continue
            return w, coco.WORD_CLASS.get(w, _SINGLE_EXTRA.get(w))
        i += 1
    return None


def subject_named(hyp: str, refs: Sequence[str]) -> bool:
    """Whether the caption's subject is named in at least one reference.

    * non-person COCO class: any reference mentions that class (any of its words: "puppy"
      matches "dog"; two-word names as phrases, so "hot dog" never matches "dog");
    * generic person word (person, people, crowd, player, skier, rider, ...): any person word or
      he/she in a reference;
    * "child", "kid" (generic for the young): any child word (boy, girl, baby, toddler, ...);
    * specific person word (man, woman, boy, girl, baby, ...): the word, its singular/plural or
      a same-meaning word of its group (man/guy/gentleman, woman/lady) in a reference;
    * "animal(s)": any animal class or animal word in a reference;
    * other subject nouns (SUBJECT_EXTRA): the word, singular or plural.
    A caption with no subject noun counts as not named.
    """
    s = subject(hyp)
    if s is None:
        return False
    w, cls = s
    ref_tokens = [words(r) for r in refs]
    ref_lemmas = {_lemma(x) for t in ref_tokens for x in t}
    if cls == PERSON:
        if w in _SPECIFIC:
            group = {_lemma(x) for x in _SPECIFIC[w]}
            return bool(group & ref_lemmas)
        if w in _CHILD_GENERIC:
            return any(x in _CHILD_ANY for t in ref_tokens for x in t)
        return refs_name_person(refs)
    if cls is not None:
        return cls in reference_classes(refs)
    if w in ("animal", "animals"):
        return bool(reference_classes(refs) & _ANIMAL_IDS) or bool(ref_lemmas & _ANIMAL_EXTRA)
    return _lemma(w) in ref_lemmas


_ANIMAL_EXTRA = frozenset(_lemma(w) for w in "animal deer goat monkey camel pig chicken squirrel fish donkey lion tiger".split())


# ---------------------------------------------------------------------------------------------
# Repeated words
# ---------------------------------------------------------------------------------------------

FUNCTION_WORDS = frozenset("""a an the of in on at with and is are to into by for from near while his her
    their its it one two three four five six several some other another each this that there
    as up down out over under through across along around behind next front top side off onto
    toward towards or but be being has have he she they them him who which while""".split())


def repeats(caption: str) -> Tuple[bool, bool]:
    """(a content word occurs twice or more, some word is immediately repeated)."""
    t = words(caption)
    content = [w for w in t if w not in FUNCTION_WORDS]
    return len(set(content)) < len(content), any(a == b for a, b in zip(t, t[1:]))


# ---------------------------------------------------------------------------------------------
# Corpus scores
# ---------------------------------------------------------------------------------------------

NAMES = ["subject named", "object halluc.", "object halluc. (mentions)", "person halluc.", "repeated word",
         "immediate repeat"]


def per_image(hyps: Mapping[str, str], refs: Mapping[str, Sequence[str]]) -> Dict[str, Dict[str, object]]:
    """Per image: subject, subject_named, objects (named), hallucinated (objects no reference
    mentions), refs_person, person (caption names one), repeated, immediate."""
    out = {}
    for k in hyps:
        h, rs = hyps[k], refs[k]
        objs = object_classes(h)
        ref_cls = reference_classes(rs)
        s = subject(h)
        rep, imm = repeats(h)
        out[k] = {
            "subject": s[0] if s else "",
            "subject_named": subject_named(h, rs),
            "objects": sorted(coco.CLASSES[c] for c in objs),
            "hallucinated": sorted(coco.CLASSES[c] for c in objs - ref_cls),
            "refs_person": refs_name_person(rs),
            "person": names_person(h),
            "repeated": rep,
            "immediate": imm,
        }
    return out


def score(hyps: Mapping[str, str], refs: Mapping[str, Sequence[str]]) -> Dict[str, float]:
    """Corpus rates (fractions) over the images of hyps; every image needs references.

    Keys: subject_named, chair_s (captions with a hallucinated object / all captions),
    chair_i (hallucinated / named classes), objects_named (captions naming an object),
    person_halluc, person_n (images whose references name no person), repeated, immediate,
    images.
    """
    missing = [k for k in hyps if not refs.get(k)]
    if missing:
        raise ValueError(f"images without references: {missing[:5]}")
    p = per_image(hyps, refs)
    n = len(p)
    named = sum(len(v["objects"]) for v in p.values())
    halluc = sum(len(v["hallucinated"]) for v in p.values())
    no_person = [v for v in p.values() if not v["refs_person"]]
    frac = lambda xs: sum(1 for x in xs if x) / len(xs) if xs else 0.0  # noqa: E731
    return {
        "subject_named": frac([v["subject_named"] for v in p.values()]),
        "chair_s": frac([v["hallucinated"] for v in p.values()]),
        "chair_i": halluc / named if named else 0.0,
        "objects_named": frac([v["objects"] for v in p.values()]),
        "person_halluc": frac([v["person"] for v in no_person]),
        "person_n": len(no_person),
        "repeated": frac([v["repeated"] for v in p.values()]),
        "immediate": frac([v["immediate"] for v in p.values()]),
        "images": n,
    }


# ---------------------------------------------------------------------------------------------
# Veto thresholds
# ---------------------------------------------------------------------------------------------

def fit_veto_threshold(named: Sequence[Tuple[float, bool]], cost: float, floor: float = 0.0,
                       ceiling: float = 1.0) -> float:
    """The detector threshold for one class, from the captions that name it as (the detector's
    score for the class, whether a reference mentions it). Below the threshold the word is
    banned; the one kept (a floor or a mention's score, which that mention passes) removes the
    most hallucinated mentions less ``cost`` times the true ones it removes, the lowest such
    one between ``floor`` and ``ceiling``."""
    ranked = sorted(named)
    best, best_t, gain, i = None, floor, 0.0, 0
    for t in [floor] + [s for s, _ in ranked if floor < s <= ceiling]:
        while i < len(ranked) and ranked[i][0] < t:
            gain += -cost if ranked[i][1] else 1
            i += 1
        if best is None or gain > best:
            best, best_t = gain, t
    return best_t
