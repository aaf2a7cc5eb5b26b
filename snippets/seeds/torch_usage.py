"""Seed snippets: typical torch calls, written for seamfuzz.

This file is mined (read statically), never run by seamfuzz.  It favours the
inputs compilers get wrong: non-contiguous layouts, half precision, special
values, reductions over chosen dimensions, in-place and out= variants.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

x = torch.randn(4, 6)
xt = torch.randn(6, 4).T  # a transposed (non-contiguous) view
half = torch.randn(8, 16, dtype=torch.float16)
bf = torch.randn(3, 5).to(torch.bfloat16)
ints = torch.randint(-100, 100, (5, 7))
special = torch.tensor([0.0, -0.0, 1.0, -1.0, float("inf"), -math.inf, float("nan"), 1e-39])

torch.cumsum(xt, dim=-1)
torch.cumprod(x, dim=0)
torch.logsumexp(half, dim=1)
torch.softmax(bf, dim=-1)
F.log_softmax(xt, dim=1)
torch.var(x, dim=1, unbiased=False)
torch.std_mean(half, dim=0)
torch.amax(special, dim=0)
torch.nan_to_num(special, nan=0.0, posinf=1.0, neginf=-1.0)
torch.clamp(special, min=-1.0, max=1.0)
torch.sign(special)
torch.sqrt(special)
torch.div(ints, 3, rounding_mode="floor")
torch.remainder(ints, 7)
torch.bitwise_and(ints, 12)
torch.where(x > 0, x, torch.zeros(4, 6))
torch.matmul(x, torch.randn(6, 3))
torch.bmm(torch.randn(2, 3, 4), torch.randn(2, 4, 5))
torch.einsum("ij,jk->ik", x, torch.randn(6, 2))
torch.cat([x, x], dim=0)
torch.flip(x, dims=[0, 1])
torch.roll(x, shifts=2, dims=1)
torch.topk(x, 3, dim=1)
torch.sort(xt, dim=0, descending=True)
torch.argmax(x, dim=1, keepdim=True)
torch.gather(x, 1, torch.randint(0, 6, (4, 2)))
torch.addcmul(x, x, x, value=0.5)
torch.lerp(x, torch.ones(4, 6), 0.3)
torch.pow(x, 2)
torch.fmod(x, 1.5)
torch.floor_divide(ints, 4)
torch.trunc(x * 10)
torch.erf(half)
torch.sigmoid(bf)

img = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
F.gelu(x, approximate="tanh")
F.layer_norm(torch.randn(2, 5, 8), (8,))
F.avg_pool2d(torch.randn(1, 3, 8, 8), kernel_size=2)
F.interpolate(torch.randn(1, 2, 4, 4), scale_factor=2.0, mode="bilinear")
F.pad(x, (1, 2), mode="constant", value=0.5)
F.normalize(x, p=2.0, dim=1)
F.cosine_similarity(x, torch.randn(4, 6), dim=1)

conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
conv(torch.randn(2, 3, 16, 16))
bn = nn.BatchNorm1d(6)
bn(torch.randn(4, 6))
lin = nn.Linear(6, 3)
lin(xt)
nn.LayerNorm(6)(x)
nn.GELU()(half)
nn.Embedding(10, 4)(torch.randint(0, 10, (2, 5)))
nn.MaxPool2d(2)(torch.randn(1, 3, 8, 8))

y = torch.randn(5, 5)
y.add_(1.0)
y.mul(2).sum(dim=0)
y.clamp_(min=0.0)
x.permute(1, 0).contiguous().view(-1)
x.transpose(0, 1).reshape(3, 8)
x.masked_fill(x > 1.0, 0.0)
x.index_select(0, torch.tensor([0, 2]))
torch.add(x, x, out=torch.empty(4, 6))
