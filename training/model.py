"""The captioner: a projection + 2-D position head over backbone features, and a
GPT-2-style decoder (pre-LN, gelu_new) with cross-attention to the feature grid."""

import math
import os
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    """Sizes and dropouts; train and finetune fill them from the recipe ([model])."""
    vocab_size: int
    n_embd: int
    n_head: int
    n_layer: int
    enc_layers: int
    feat_channels: int
    grid: int
    dropout: float
    attn_dropout: float
    feat_dropout: float
    n_positions: int = 32

    @property
    def n_inner(self):
        return 4 * self.n_embd

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def split_heads(x, heads):
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def attend(q, k, v, head_dim, mask=None, drop=None):
    # head_dim is a Python int so that ONNX export keeps the scale a constant.
    scores = torch.matmul(q, k.transpose(-1, -2)) * head_dim ** -0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    p = torch.softmax(scores, dim=-1)
    if drop is not None:
        p = drop(p)
    return torch.matmul(p, v)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, c.n_inner)
        self.c_proj = nn.Linear(c.n_inner, c.n_embd)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.ln_1 = nn.LayerNorm(c.n_embd)
        self.qkv = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.ln_2 = nn.LayerNorm(c.n_embd)
        self.mlp = MLP(c)
        self.drop = nn.Dropout(c.dropout)
        self.adrop = nn.Dropout(c.attn_dropout)

    def forward(self, x):
        c = self.c
        q, k, v = self.qkv(self.ln_1(x)).split(c.n_embd, dim=-1)
        a = attend(split_heads(q, c.n_head), split_heads(k, c.n_head), split_heads(v, c.n_head), c.head_dim,
                   drop=self.adrop)
        x = x + self.drop(self.proj(merge_heads(a)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class EncoderHead(nn.Module):
    """[batch, grid*grid, channels] backbone features -> [batch, grid*grid, n_embd]."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.proj = nn.Linear(c.feat_channels, c.n_embd)
        self.row = nn.Parameter(torch.randn(c.grid, c.n_embd) * 0.02)
        self.col = nn.Parameter(torch.randn(c.grid, c.n_embd) * 0.02)
        self.ln_in = nn.LayerNorm(c.n_embd)
        self.layers = nn.ModuleList([EncoderLayer(c) for _ in range(c.enc_layers)])
        self.ln_out = nn.LayerNorm(c.n_embd)
        self.fdrop = nn.Dropout(c.feat_dropout)
        self.drop = nn.Dropout(c.dropout)

    def pos(self):
        g = self.c.grid
        return (self.row[:, None, :] + self.col[None, :, :]).reshape(g * g, self.c.n_embd)

    def forward(self, feats):
        x = self.ln_in(self.proj(self.fdrop(feats))) + self.pos()
        x = self.drop(x)
        for layer in self.layers:
            x = layer(x)
        return self.ln_out(x)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.ln_1 = nn.LayerNorm(c.n_embd)
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd)
        self.ln_cross = nn.LayerNorm(c.n_embd)
        self.q_attn = nn.Linear(c.n_embd, c.n_embd)
        self.kv_attn = nn.Linear(c.n_embd, 2 * c.n_embd)
        self.cross_proj = nn.Linear(c.n_embd, c.n_embd)
        self.ln_2 = nn.LayerNorm(c.n_embd)
        self.mlp = MLP(c)
        self.drop = nn.Dropout(c.dropout)
        self.adrop = nn.Dropout(c.attn_dropout)

    def cross_kv(self, enc):
        ck, cv = self.kv_attn(enc).split(self.c.n_embd, dim=-1)
        return split_heads(ck, self.c.n_head), split_heads(cv, self.c.n_head)

    def forward(self, x, enc, mask, past=None, rep=1, cross=None):
        c = self.c
        q, k, v = self.c_attn(self.ln_1(x)).split(c.n_embd, dim=-1)
        q, k, v = split_heads(q, c.n_head), split_heads(k, c.n_head), split_heads(v, c.n_head)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        x = x + self.drop(self.c_proj(merge_heads(attend(q, k, v, c.head_dim, mask, self.adrop))))
        cq = split_heads(self.q_attn(self.ln_cross(x)), c.n_head)
        if cross is None:
            ck, cv = self.kv_attn(enc).split(c.n_embd, dim=-1)
            if rep > 1:  # training: several captions per image share the image's keys/values
                ck, cv = ck.repeat_interleave(rep, 0), cv.repeat_interleave(rep, 0)
            ck, cv = split_heads(ck, c.n_head), split_heads(cv, c.n_head)
        else:  # precomputed per-layer cross-attention keys/values (fast batched decoding)
            ck, cv = cross
        a = attend(cq, ck, cv, c.head_dim, drop=self.adrop)
        x = x + self.drop(self.cross_proj(merge_heads(a)))
        x = x + self.drop(self.mlp(self.ln_2(x)))
        return x, (k, v)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.n_positions, c.n_embd)
        self.h = nn.ModuleList([Block(c) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)

    def forward(self, input_ids, enc, pasts=None, rep=1, cross=None):
        t = input_ids.shape[1]
        p = pasts[0][0].shape[2] if pasts is not None else 0
        q_pos = torch.arange(t, device=input_ids.device) + p
        k_pos = torch.arange(p + t, device=input_ids.device)
        mask = k_pos.unsqueeze(0) <= q_pos.unsqueeze(1)
        x = self.drop(self.wte(input_ids) + self.wpe(q_pos).unsqueeze(0))
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, enc, mask, pasts[i] if pasts is not None else None, rep,
                               cross[i] if cross is not None else None)
            presents.append(present)
        # lm_head is tied to wte.
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return logits, presents


class Encoder(nn.Module):
    """pixel_values -> encoder states: the backbone's feature map, flattened to grid cells,
    through the captioner's head (what encoder_model.onnx computes)."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def features(self, pixel_values):
        (f,) = self.backbone(pixel_values)
        return f.flatten(2).transpose(1, 2)

    def forward(self, pixel_values):
        return self.head(self.features(pixel_values))


class Captioner(nn.Module):
    """The encoder head and the decoder; training and decoding call them separately
    (crossentropy.caption_loss, decode.py)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.head = EncoderHead(c)
        self.dec = Decoder(c)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        # GPT-2's scaled init for residual projections.
        for n, p in self.named_parameters():
            if n.endswith(("c_proj.weight", "cross_proj.weight", "proj.weight")) and "head.proj" not in n:
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.n_layer))


def load_run(run_dir):
    """A run's best.pt as (Captioner in eval mode, the checkpoint dict)."""
    ck = torch.load(os.path.join(run_dir, "best.pt"))
    model = Captioner(Config(**ck["config"]))
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck
