"""Caption metrics with the coco-caption (pycocoevalcap) definitions, in pure Python.

Everything is corpus-level over a set of images, and every candidate is scored
against ALL reference captions of its image:

* BLEU-1..4  -- coco-caption's ``Bleu(4)``: clipped n-gram counts summed over
  the corpus, brevity penalty from the summed "closest" reference lengths, and
  the same tiny/small epsilons (1e-15 / 1e-9) as ``bleu_scorer.py``.
* ROUGE-L    -- coco-caption's ``Rouge``: LCS precision and recall against each
  reference, the MAXIMUM precision and the MAXIMUM recall (taken separately,
  possibly from different references) combined into an F-measure with
  beta = 1.2; the mean over images.
* CIDEr-D    -- coco-caption's ``Cider`` (== ``CiderD`` with df="corpus"):
  n = 1..4 TF-IDF vectors, document frequencies from the references of the
  evaluated set, idf = log(#images) - log(max(1, df)), candidate weights clipped
  to the reference weights, Gaussian length penalty with sigma = 6, the mean over
  n and over references, times 10; the mean over images.
* METEOR     -- not implemented: it needs the METEOR 1.5 jar (Java), WordNet
  synonyms and its paraphrase table (see README.md).

Tokenisation emulates coco-caption's ``PTBTokenizer`` (Stanford PTBTokenizer,
``-preserveLines -lowerCase``, then removal of the punctuation tokens listed in
``PUNCTUATIONS``) with regular expressions; README.md lists the differences.

Faithful quirks that are kept on purpose (they are part of the published
numbers):
* CIDEr-D's length penalty counts BIGRAMS, not words (``if n == 1: length +=``
  in ``cider_scorer.py``), so delta = difference of bigram counts.
* CIDEr-D over a single image is always 0 (idf = log(1) - log(1) = 0).
* ROUGE-L splits on a single space, so an empty candidate is one empty token.
* Brackets survive tokenisation as "-lrb-", "-rrb-", ... (coco-caption runs the
  Stanford tokenizer with -lowerCase, which lower-cases "-LRB-" after escaping,
  so it no longer matches the upper-case entries of PUNCTUATIONS).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Dict, List, Mapping, Sequence, Tuple

__all__ = [
    "PUNCTUATIONS",
    "ptb_tokenize",
    "tokenize_corpus",
    "bleu",
    "rouge_l",
    "cider_d",
    "evaluate",
    "METRIC_NAMES",
]

# The tokens coco-caption's ptbtokenizer.py drops after Stanford tokenisation.
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
     ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

METRIC_NAMES = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]

# --------------------------------------------------------------------------
# Tokenisation (PTBTokenizer emulation)
# --------------------------------------------------------------------------

# Abbreviations whose final period Stanford's PTBLexer keeps on the word.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr vs etc inc ltd co corp no mt ft jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_QUOTES = {
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u2013": "--", "\u2014": "--", "\u2026": "...",
}
_QUOTES_RE = re.compile("|".join(map(re.escape, _QUOTES)))
# Characters that always stand alone.
_ALWAYS_SPLIT_RE = re.compile(r'([()\[\]{}"?!;@#$%^&*+=<>|~`]|\.\.\.+|--+)')
_CONTRACTION_RE = re.compile(r"^(.+?)(n't|'s|'re|'ve|'m|'ll|'d)$")
_CLITIC_RE = re.compile(r"^(?:n't|'s|'re|'ve|'m|'ll|'d)$")
_ACRONYM_RE = re.compile(r"^(?:[a-z]\.){2,}$")
_INITIAL_RE = re.compile(r"^[A-Z]\.$")  # a capital initial: "J." (checked before lower-casing)
_NUMBER_RE = re.compile(r"^[+-]?\d[\d,.:/]*$")
# Stanford writes brackets as -LRB- -RRB- -LCB- -RCB- -LSB- -RSB-. coco-caption
# runs it with -lowerCase, which lower-cases every token AFTER that escaping,
# so they come out as "-lrb-" etc. and do NOT match the upper-case entries of
# PUNCTUATIONS: brackets stay in the token stream. We reproduce that.
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-", "[": "-lsb-", "]": "-rsb-"}
# Tokens that are removed: coco-caption's list (lower-cased text can still
# match its non-letter entries), plus '"', which Stanford turns into `` or ''.
_DROP = PUNCTUATIONS | {'"'}
# Stanford keeps a few symbol-internal tokens (AT&T) whole.
_KEEP_WHOLE_RE = re.compile(r"^[a-z]+&[a-z]+$")


def _split_token(tok: str) -> List[str]:
    """Split one whitespace-delimited chunk like PTBTokenizer (case is kept here)."""
    if _KEEP_WHOLE_RE.match(tok.lower()):
        return [tok]
    out: List[str] = []
    for piece in _ALWAYS_SPLIT_RE.split(tok):
        if not piece:
            continue
        if _ALWAYS_SPLIT_RE.fullmatch(piece):
            if piece.startswith(".."):
                piece = "..."
            elif piece.startswith("--"):
                piece = "--"
            out.append(_BRACKETS.get(piece, piece))
        else:
            out.extend(_split_word(piece))
    return out


def _split_word(w: str) -> List[str]:
    """Split a chunk of letters, digits and ' , . : - / like PTBTokenizer."""
    if _CLITIC_RE.match(w.lower()):  # a clitic already split off: 's n't 're ...
        return [w]
    # Leading quote, comma or colon.
    pre: List[str] = []
    while w and w[0] in "',:" and not _CLITIC_RE.match(w.lower()):
        pre.append(w[0])
        w = w[1:]
    # Trailing comma, colon, ellipsis, sentence period, closing quote.
    post: List[str] = []
    while w:
        if w[-1] in ",:":
            post.insert(0, w[-1])
            w = w[:-1]
        elif w.endswith("..."):
            post.insert(0, "...")
            w = w[:-3]
        elif w[-1] == ".":
            body = w[:-1]
            if body and (body.lower() in _ABBREVIATIONS or _ACRONYM_RE.match(w.lower()) or _INITIAL_RE.match(w)):
                break  # "etc." "Mr." "U.S." "J." keep their period
            post.insert(0, ".")
            w = body
        elif w[-1] == "'" and len(w) > 1 and not _CLITIC_RE.match(w.lower()):
            post.insert(0, "'")  # closing single quote, or the plural possessive "dogs'"
            w = w[:-1]
        else:
            break
    mid: List[str] = []
    if w:
        if not _NUMBER_RE.match(w) and re.search(r"[,:]", w):
            # a comma or colon inside a word (not 1,000 or 10:30) separates
            for p in re.split(r"([,:])", w):
                if p:
                    mid.extend([p] if p in ",:" else _split_word(p))
        elif w.lower() == "cannot":
            mid.extend([w[:3], w[3:]])
        else:
            m = _CONTRACTION_RE.match(w.lower())
            mid.extend([w[:m.end(1)], w[m.end(1):]] if m else [w])
    return pre + mid + post


def ptb_tokenize(text: str) -> str:
    """Tokenise one caption like coco-caption's PTBTokenizer.

    Returns the lower-cased tokens joined by single spaces, with the
    punctuation tokens that coco-caption removes taken out.
    """
    # Typographic quotes, dashes and ellipses become their ASCII forms; the
    # apostrophe stays in place so that "don\u2019t" splits like "don't".
    text = _QUOTES_RE.sub(lambda m: _QUOTES[m.group(0)] if _QUOTES[m.group(0)] == "'" else " " + _QUOTES[m.group(0)] + " ",
                          text)
    toks: List[str] = []
    for chunk in text.split():  # any whitespace, newlines included (-preserveLines)
        toks.extend(_split_token(chunk))
    # -lowerCase applies to the tokens after splitting, as in Stanford's tokReader.
    toks = [t.lower() for t in toks]
    return " ".join(t for t in toks if t and t not in _DROP)


def tokenize_corpus(captions: Mapping[str, Sequence[str]]) -> Dict[str, List[str]]:
    """ptb_tokenize every caption of ``{image: [caption, ...]}``."""
    return {k: [ptb_tokenize(c) for c in v] for k, v in captions.items()}


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------

def ngrams(words: Sequence[str], n: int) -> Dict[Tuple[str, ...], int]:
    """Counts of the 1..n-grams of words (BLEU's and CIDEr-D's; SCST rewards use it too)."""
    counts: Dict[Tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def _check(gts: Mapping[str, Sequence[str]], res: Mapping[str, object]) -> List[str]:
    if set(gts) != set(res):
        missing = sorted(set(gts) - set(res))[:5]
        extra = sorted(set(res) - set(gts))[:5]
        raise ValueError(f"references and candidates cover different images (missing {missing}, extra {extra})")
    ids = sorted(gts)
    for i in ids:
        if len(gts[i]) == 0:
            raise ValueError(f"image {i!r} has no reference caption")
    return ids


def _one(c: object) -> str:
    # Accept "caption" or ["caption"] (coco-caption's res format).
    if isinstance(c, str):
        return c
    if isinstance(c, (list, tuple)) and len(c) == 1 and isinstance(c[0], str):
        return c[0]
    raise ValueError(f"a candidate must be one string, got {c!r}")


# --------------------------------------------------------------------------
# BLEU (coco-caption bleu_scorer.py semantics)
# --------------------------------------------------------------------------

_TINY = 1e-15
_SMALL = 1e-9


def bleu(gts: Mapping[str, Sequence[str]], res: Mapping[str, object], n: int = 4
         ) -> Tuple[List[float], List[List[float]]]:
    """Corpus BLEU-1..n and per-image BLEU-1..n, on already-tokenised text.

    Returns ``(corpus, per_image)`` where ``corpus[k]`` is BLEU-(k+1) and
    ``per_image[k][i]`` is image i's sentence BLEU-(k+1) (as coco-caption's
    ``bleu_list``; the corpus value is NOT their mean).
    """
    ids = _check(gts, res)
    testlen_total = 0
    reflen_total = 0
    guess = [0] * n
    correct = [0] * n
    per_image: List[List[float]] = [[] for _ in range(n)]
    for i in ids:
        words = _one(res[i]).split()
        testlen = len(words)
        counts = ngrams(words, n)
        reflens = []
        maxcounts: Dict[Tuple[str, ...], int] = {}
        for ref in gts[i]:
            rw = ref.split()
            reflens.append(len(rw))
            for g, c in ngrams(rw, n).items():
                if c > maxcounts.get(g, 0):
                    maxcounts[g] = c
        # "closest" reference length; ties go to the shorter one.
        reflen = min((abs(L - testlen), L) for L in reflens)[1]
        g_i = [max(0, testlen - k + 1) for k in range(1, n + 1)]
        c_i = [0] * n
        for g, c in counts.items():
            c_i[len(g) - 1] += min(maxcounts.get(g, 0), c)
        testlen_total += testlen
        reflen_total += reflen
        for k in range(n):
            guess[k] += g_i[k]
            correct[k] += c_i[k]
        b = 1.0
        for k in range(n):
            b *= (c_i[k] + _TINY) / (g_i[k] + _SMALL)
            per_image[k].append(b ** (1.0 / (k + 1)))
        ratio = (testlen + _TINY) / (reflen + _SMALL)
        if ratio < 1:
            for k in range(n):
                per_image[k][-1] *= math.exp(1 - 1 / ratio)
    corpus = []
    b = 1.0
    for k in range(n):
        b *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        corpus.append(b ** (1.0 / (k + 1)))
    ratio = (testlen_total + _TINY) / (reflen_total + _SMALL)
    if ratio < 1:
        corpus = [x * math.exp(1 - 1 / ratio) for x in corpus]
    return corpus, per_image


# --------------------------------------------------------------------------
# ROUGE-L (coco-caption rouge.py semantics)
# --------------------------------------------------------------------------

def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l(gts: Mapping[str, Sequence[str]], res: Mapping[str, object], beta: float = 1.2
            ) -> Tuple[float, List[float]]:
    """Mean ROUGE-L F (beta 1.2) and per-image values, on tokenised text."""
    ids = _check(gts, res)
    scores = []
    for i in ids:
        cand = _one(res[i]).split(" ")
        precs, recs = [], []
        for ref in gts[i]:
            r = ref.split(" ")
            lcs = _lcs(r, cand)
            precs.append(lcs / len(cand))
            recs.append(lcs / len(r))
        p, r = max(precs), max(recs)
        if p != 0 and r != 0:
            scores.append(((1 + beta ** 2) * p * r) / (r + beta ** 2 * p))
        else:
            scores.append(0.0)
    return sum(scores) / len(scores), scores


# --------------------------------------------------------------------------
# CIDEr-D (coco-caption cider_scorer.py semantics)
# --------------------------------------------------------------------------

def cider_df(crefs: Sequence[Sequence[Dict[Tuple[str, ...], int]]]) -> Dict[Tuple[str, ...], float]:
    """Document frequency of each n-gram: in how many images' reference sets it occurs."""
    df: Dict[Tuple[str, ...], float] = defaultdict(float)
    for refs in crefs:
        for g in {g for ref in refs for g in ref}:
            df[g] += 1
    return df


def cider_vec(cnts, df, log_n, n=4):
    """tf-idf vectors per n-gram order, their norms and the "length" CIDEr-D compares."""
    v = [dict() for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for g, tf in cnts.items():
        k = len(g) - 1
        w = float(tf) * (log_n - math.log(max(1.0, df.get(g, 0.0))))
        v[k][g] = w
        norm[k] += w * w
        if k == 1:  # sic: coco-caption counts bigrams as the "length"
            length += tf
    return v, [math.sqrt(x) for x in norm], length


def cider_sim(hyp, ref, n=4, sigma=6.0) -> float:
    """CIDEr-D of one candidate against one reference, summed over n-gram orders (not yet
    divided by n, averaged over references or scaled by 10). hyp, ref: cider_vec results."""
    (vh, nh, lh), (vr, nr, lr) = hyp, ref
    pen = math.e ** (-(float(lh - lr) ** 2) / (2 * sigma ** 2))
    total = 0.0
    for k in range(n):
        s = 0.0
        for g, w in vh[k].items():
            wr = vr[k].get(g, 0.0)
            s += min(w, wr) * wr
        if nh[k] != 0 and nr[k] != 0:
            s /= nh[k] * nr[k]
        total += s * pen
    return total


def cider_d(gts: Mapping[str, Sequence[str]], res: Mapping[str, object], n: int = 4, sigma: float = 6.0
            ) -> Tuple[float, List[float]]:
    """Mean CIDEr-D and per-image values, on tokenised text."""
    ids = _check(gts, res)
    crefs = [[ngrams(r.split(), n) for r in gts[i]] for i in ids]
    ctest = [ngrams(_one(res[i]).split(), n) for i in ids]
    df = cider_df(crefs)
    log_n = math.log(float(len(crefs)))
    scores = []
    for test, refs in zip(ctest, crefs):
        vh = cider_vec(test, df, log_n, n)
        acc = sum(cider_sim(vh, cider_vec(ref, df, log_n, n), n, sigma) for ref in refs)
        scores.append(acc / n / len(refs) * 10.0)
    return sum(scores) / len(scores), scores


# --------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------

def evaluate(gts: Mapping[str, Sequence[str]], res: Mapping[str, object], tokenize: bool = True
             ) -> Dict[str, float]:
    """All metrics for ``gts = {image: [ref, ...]}`` and ``res = {image: caption}``.

    With ``tokenize`` (the default) both sides go through ``ptb_tokenize``
    first, as coco-caption's COCOEvalCap does.
    """
    res1 = {k: _one(v) for k, v in res.items()}
    if tokenize:
        gts = tokenize_corpus(gts)
        res1 = {k: ptb_tokenize(v) for k, v in res1.items()}
    b, _ = bleu(gts, res1)
    r, _ = rouge_l(gts, res1)
    c, _ = cider_d(gts, res1)
    out = {f"BLEU-{k + 1}": b[k] for k in range(4)}
    out["ROUGE-L"] = r
    out["CIDEr-D"] = c
    return out
