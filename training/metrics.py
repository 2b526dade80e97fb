"""Quick BLEU-1..4 and CIDEr-D, following the coco-caption reference code
(corpus BLEU with the closest reference length; CIDEr-D with sigma 6, clipping,
document frequencies from the evaluated references, x10). For model selection;
training/eval/score.py is the project's scorer of record."""

import collections
import math

from common import words


def ngrams(toks, n):
    return collections.Counter(tuple(toks[i:i + k]) for k in range(1, n + 1) for i in range(len(toks) - k + 1))


def bleu(hyps, refs, n=4):
    """hyps: {img: caption}, refs: {img: [captions]} -> [BLEU-1..n]."""
    correct, total = [0] * n, [0] * n
    hyp_len = ref_len = 0
    for img, h in hyps.items():
        ht = words(h)
        rts = [words(r) for r in refs[img]]
        hyp_len += len(ht)
        ref_len += min((abs(len(r) - len(ht)), len(r)) for r in rts)[1]
        hc = ngrams(ht, n)
        maxref = collections.Counter()
        for r in rts:
            for g, c in ngrams(r, n).items():
                maxref[g] = max(maxref[g], c)
        for g, c in hc.items():
            correct[len(g) - 1] += min(c, maxref[g])
        for k in range(n):
            total[k] += max(len(ht) - k, 0)
    tiny, small = 1e-15, 1e-9
    bp = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / max(hyp_len, tiny))
    out, logsum = [], 0.0
    for k in range(n):
        logsum += math.log((correct[k] + tiny) / (total[k] + small))
        out.append(bp * math.exp(logsum / (k + 1)))
    return out


def cider_d(hyps, refs, n=4, sigma=6.0):
    imgs = list(hyps)
    crefs = {i: [ngrams(words(r), n) for r in refs[i]] for i in imgs}
    df = collections.Counter()
    for i in imgs:
        for g in set(g for c in crefs[i] for g in c):
            df[g] += 1
    log_ref = math.log(float(len(imgs)))

    def vec(cnts):
        v = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for g, tf in cnts.items():
            k = len(g) - 1
            v[k][g] = tf * (log_ref - math.log(max(1.0, df[g])))
            norm[k] += v[k][g] ** 2
            if k == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    total = 0.0
    for i in imgs:
        vh, nh, lh = vec(ngrams(words(hyps[i]), n))
        score = [0.0] * n
        for rc in crefs[i]:
            vr, nr, lr = vec(rc)
            delta = lh - lr
            for k in range(n):
                val = sum(min(x, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, x in vh[k].items())
                if nh[k] != 0 and nr[k] != 0:
                    val /= nh[k] * nr[k]
                score[k] += val * math.exp(-(delta ** 2) / (2 * sigma ** 2))
        total += sum(score) / n / len(crefs[i]) * 10.0
    return total / len(imgs)


def score_all(hyps, refs):
    b = bleu(hyps, refs)
    return {"BLEU-1": b[0], "BLEU-2": b[1], "BLEU-3": b[2], "BLEU-4": b[3], "CIDEr-D": cider_d(hyps, refs)}
