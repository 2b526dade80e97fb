"""Self-critical sequence training on CIDEr-D (Rennie et al. 2017) that scst and finetune
share: the reward, sampling, and one policy-gradient step."""

import math

import torch
import torch.nn.functional as F

from training.crossentropy import caption_loss
from training.decode import ban
from training.eval.metrics import cider_df, cider_sim, cider_vec, ngrams, ptb_tokenize
from training.text import BAD_WORDS, BOS, EOS, PAD, decode


class Reward:
    """CIDEr-D of candidate word lists against fixed references, with document
    frequencies from the training references (as SCST implementations do)."""

    def __init__(self, refs):
        self.refs = {img: [ngrams(ptb_tokenize(r).split(), 4) for r in rs] for img, rs in refs.items()}
        self.df = cider_df(list(self.refs.values()))
        self.log_n = math.log(float(len(self.refs)))
        self.ref_vecs = {img: [cider_vec(r, self.df, self.log_n) for r in rs] for img, rs in self.refs.items()}

    def __call__(self, img, words):
        vh = cider_vec(ngrams(words, 4), self.df, self.log_n)
        refs = self.ref_vecs[img]
        return sum(cider_sim(vh, r) for r in refs) / 4 / len(refs) * 10.0


@torch.no_grad()
def sample(dec, enc, k, max_length, top_k):
    """k sampled captions per image (image-major rows): ids [rows, T] starting with BOS,
    EOS then PAD after the end. Each word is drawn from the top_k most likely: the
    label-smoothed model leaves ~10 % of its mass on the long tail, and samples from there
    only teach it to push rare words (which references do use) further down."""
    enc = enc.repeat_interleave(k, 0)
    cross = [blk.cross_kv(enc) for blk in dec.h]
    seqs = torch.full((enc.shape[0], 1), BOS, dtype=torch.long, device=enc.device)
    done = torch.zeros(enc.shape[0], dtype=torch.bool, device=enc.device)
    pasts = None
    while seqs.shape[1] < max_length and not done.all():
        logits, pasts = dec(seqs[:, -1:], None, pasts, cross=cross)
        scores = ban(seqs.tolist(), logits[:, -1, :].clone(), 0, BAD_WORDS)
        top, idx = scores.topk(top_k, -1)
        tok = idx.gather(1, torch.multinomial(F.softmax(top, -1), 1))[:, 0]
        tok = torch.where(done, torch.full_like(tok, PAD), tok)
        seqs = torch.cat([seqs, tok[:, None]], 1)
        done |= tok == EOS
    return seqs


def scst_step(model, opt, f, imgs, itos, reward, k, max_length, top_k):
    """One policy-gradient step on images imgs with features f: k samples each, rewarded
    against the mean of the image's other samples. Returns the mean reward."""
    model.eval()  # sample without dropout
    seqs = sample(model.dec, model.head(f), k, max_length, top_k)
    words = [decode(q, itos).split() for q in seqs.tolist()]
    r = torch.tensor([reward(imgs[j // k], w) for j, w in enumerate(words)]).view(-1, k)
    adv = (r - (r.sum(1, keepdim=True) - r) / (k - 1)).view(-1).to(f.device)
    model.train()
    logp = -caption_loss(model, model.head(f), seqs, reduction="none").view(seqs.shape[0], -1)
    loss = -(adv[:, None] * logp).sum() / (seqs[:, 1:] != PAD).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(r.mean())
