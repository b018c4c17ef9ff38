#!/usr/bin/python3
"""The PyTorch peer of `npm run bench`: the same tiny GPT (src/core/model.ts), the same SFT step
(batch 32 x 32 tokens, next-token loss, global-norm clip 1, Adam betas (0.9, 0.95), eps 1e-8) and,
for reference, batched decoding of 64 sequences x 64 new tokens with and without a KV cache.

Written as a PyTorch user would write it (nn.Embedding, F.layer_norm, F.gelu(approximate='tanh')),
eager mode, CPU. Each measurement is a median after warm-up, taken at 1 and at 2 threads; each is
reported at its own best thread count (`threads` for the SFT step, `decodeThreads` for the KV-cache
decode): on a small model the two can differ by 3x, and a ratio against the other count's number
would flatter us. Run with Debian's python (/usr/bin/python3, package python3-torch) and
libopenblas0-pthread installed: Debian's torch calls the system BLAS, and with only the reference
BLAS it is ~10x slower than any real user's PyTorch. The BLAS actually loaded is reported.

usage: /usr/bin/python3 bench/peer/peer.py [--json] [--runs N] [--threads 1,2] [--no-decode]
                                          [--arch nLayer,nHead,dModel,dMlp,blockSize]
(--arch: another size, e.g. `npm run bench -- --model large` passes 4,8,256,1024,64)
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# src/core/model.ts DEFAULT_MODEL with the add task's vocabulary (--arch sets the others).
VOCAB, BLOCK, N_LAYER, N_HEAD, D, D_MLP = 17, 64, 2, 4, 64, 256


class TinyGpt(torch.nn.Module):
    """Pre-LN GPT: learned positions, causal attention, GELU MLP, LM head tied to the embedding."""

    def __init__(self, block=None):
        super().__init__()
        block = block or BLOCK
        self.wte = torch.nn.Embedding(VOCAB, D)
        self.wpe = torch.nn.Embedding(block, D)
        self.blocks = torch.nn.ModuleList()
        for _ in range(N_LAYER):
            self.blocks.append(
                torch.nn.ModuleDict(
                    dict(
                        ln1=torch.nn.LayerNorm(D, eps=1e-5),
                        qkv=torch.nn.Linear(D, 3 * D),
                        wo=torch.nn.Linear(D, D),
                        ln2=torch.nn.LayerNorm(D, eps=1e-5),
                        w1=torch.nn.Linear(D, D_MLP),
                        w2=torch.nn.Linear(D_MLP, D),
                    )
                )
            )
        self.lnf = torch.nn.LayerNorm(D, eps=1e-5)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def attend(self, blk, x, cache=None):
        B, T, _ = x.shape
        dh = D // N_HEAD
        q, k, v = blk['qkv'](blk['ln1'](x)).split(D, dim=2)
        q, k, v = (t.view(B, T, N_HEAD, dh).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if cache.get('k') is not None:
                k = torch.cat([cache['k'], k], dim=2)
                v = torch.cat([cache['v'], v], dim=2)
            cache['k'], cache['v'] = k, v
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh))
        Tk = k.shape[2]
        if T > 1:
            causal = torch.ones(T, Tk, dtype=torch.bool).tril(diagonal=Tk - T)
            att = att.masked_fill(~causal, float('-inf'))
        y = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
        return blk['wo'](y)

    def forward(self, ids, pos0=0, caches=None):
        B, T = ids.shape
        pos = torch.arange(pos0, pos0 + T)
        x = self.wte(ids) + self.wpe(pos)
        for i, blk in enumerate(self.blocks):
            x = x + self.attend(blk, x, None if caches is None else caches[i])
            x = x + blk['w2'](F.gelu(blk['w1'](blk['ln2'](x)), approximate='tanh'))
        return self.lnf(x) @ self.wte.weight.t()


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms), min(ms), max(ms)


def sft_step_ms(runs, warmup, B=32, T=32):
    torch.manual_seed(0)
    model = TinyGpt()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    ids = torch.randint(1, VOCAB, (B, T))

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()

    return median_ms(step, runs, warmup)


@torch.no_grad()
def decode_ms(runs, warmup, use_cache, B=64, prefix=9, new=64):
    torch.manual_seed(1)
    model = TinyGpt(block=prefix + new)
    ids0 = torch.randint(1, VOCAB, (B, prefix))

    def run():
        ids = ids0
        caches = [dict() for _ in range(N_LAYER)] if use_cache else None
        logits = model(ids, 0, caches)[:, -1]
        for t in range(new):
            nxt = torch.multinomial(logits.softmax(-1), 1)
            ids = torch.cat([ids, nxt], dim=1)
            if t == new - 1:
                break
            if use_cache:
                logits = model(nxt, prefix + t, caches)[:, -1]
            else:
                logits = model(ids)[:, -1]

    return median_ms(run, runs, warmup)


def loaded_blas():
    """The BLAS shared library this process mapped (after a matmul has run)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
        return ', '.join(sorted(os.path.realpath(p) for p in libs)) or 'none found'
    except OSError:
        return 'unknown'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--no-decode', action='store_true')
    ap.add_argument('--arch', help='nLayer,nHead,dModel,dMlp,blockSize (default 2,4,64,256,64)')
    a = ap.parse_args()
    global BLOCK, N_LAYER, N_HEAD, D, D_MLP
    if a.arch:
        N_LAYER, N_HEAD, D, D_MLP, BLOCK = (int(x) for x in a.arch.split(','))
    blas = loaded_blas()
    per_threads = {}
    for n in [int(t) for t in a.threads.split(',')]:
        torch.set_num_threads(n)
        med, lo, hi = sft_step_ms(a.runs, 5)
        entry = {'sftStepMs': round(med, 2), 'sftStepMsMin': round(lo, 2), 'sftStepMsMax': round(hi, 2)}
        if not a.no_decode:
            kv = decode_ms(5, 1, True)
            nc = decode_ms(3, 1, False)
            entry['decodeTokensPerSec'] = {
                'kvCache': round(64 * 64 / kv[0] * 1000),
                'noCache': round(64 * 64 / nc[0] * 1000),
            }
        per_threads[n] = entry
        print(f'peer threads={n}: {entry}', file=sys.stderr)
    best = min(per_threads, key=lambda n: per_threads[n]['sftStepMs'])
    out = {
        'torch': torch.__version__,
        'blas': blas,
        'threads': best,
        **per_threads[best],
        'perThreads': per_threads,
        'arch': {'nLayer': N_LAYER, 'nHead': N_HEAD, 'dModel': D, 'dMlp': D_MLP, 'blockSize': BLOCK},
        'runs': a.runs,
    }
    if not a.no_decode:
        # Each decoder at its own best thread count, not the SFT step's.
        fastest = max(per_threads, key=lambda n: per_threads[n]['decodeTokensPerSec']['kvCache'])
        out['decodeThreads'] = fastest
        out['decodeTokensPerSec'] = {
            'kvCache': per_threads[fastest]['decodeTokensPerSec']['kvCache'],
            'noCache': max(e['decodeTokensPerSec']['noCache'] for e in per_threads.values()),
        }
    if 'openblas' not in blas.lower():
        print('warning: OpenBLAS is not the BLAS in use; install libopenblas0-pthread', file=sys.stderr)
    print(json.dumps(out) if a.json else json.dumps(out, indent=2))


if __name__ == '__main__':
    main()
