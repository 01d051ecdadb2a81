"""Scratch: throughput of candidate nets (fp32 vs bf16, channels_last)."""
import sys, time
import torch
from torch import nn

torch.manual_seed(0)
import os; torch.set_num_threads(int(os.environ.get("THREADS", "1")))

def bn_relu(c): return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]

def net_a(w=32):  # conv5 stride... airbench-ish
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=False), *bn_relu(w), nn.MaxPool2d(2),      # 14
        nn.Conv2d(w, 2*w, 3, padding=1, bias=False), *bn_relu(2*w), nn.MaxPool2d(2),  # 7
        nn.Conv2d(2*w, 4*w, 3, padding=1, bias=False), *bn_relu(4*w), nn.AdaptiveMaxPool2d(1),
        nn.Flatten(), nn.Linear(4*w, 10))

def net_b(w=32):
    return nn.Sequential(
        nn.Conv2d(1, w, 5, stride=2, padding=2, bias=False), *bn_relu(w),            # 14
        nn.Conv2d(w, 2*w, 3, padding=1, bias=False), *bn_relu(2*w), nn.MaxPool2d(2),  # 7
        nn.Conv2d(2*w, 4*w, 3, padding=1, bias=False), *bn_relu(4*w), nn.MaxPool2d(2), # 3
        nn.Flatten(), nn.Linear(4*w*9, 10))

def net_c(w=32):  # only 2 convs
    return nn.Sequential(
        nn.Conv2d(1, w, 5, padding=2, bias=False), *bn_relu(w), nn.MaxPool2d(2),      # 14
        nn.Conv2d(w, 2*w, 5, padding=2, bias=False), *bn_relu(2*w), nn.MaxPool2d(2),  # 7
        nn.Flatten(), nn.Linear(2*w*49, 10))

def net_d(w=32):  # pool before BN/ReLU
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_relu(w),      # 14
        nn.Conv2d(w, 2*w, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_relu(2*w),  # 7
        nn.Conv2d(2*w, 4*w, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_relu(4*w), # 3
        nn.Flatten(), nn.Linear(4*w*9, 10))

def net_e(w=32):  # stride-2 stem, pool before BN
    return nn.Sequential(
        nn.Conv2d(1, w, 5, stride=2, padding=2, bias=False), *bn_relu(w),            # 14
        nn.Conv2d(w, 2*w, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_relu(2*w),  # 7
        nn.Conv2d(2*w, 4*w, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_relu(4*w), # 3
        nn.Flatten(), nn.Linear(4*w*9, 10))

def net_f(w=32):  # no BN
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(w, 2*w, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(2*w, 4*w, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Flatten(), nn.Linear(4*w*9, 10))

NETS = {"a": net_a, "b": net_b, "c": net_c, "d": net_d, "e": net_e, "f": net_f}

def bench(name, w, bs, bf16, cl, steps=20):
    m = NETS[name](w)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x = torch.rand(bs, 1, 28, 28); y = torch.randint(0, 10, (bs,))
    if cl: m = m.to(memory_format=torch.channels_last); x = x.to(memory_format=torch.channels_last)
    if os.environ.get("COMPILE"):
        t0 = time.perf_counter(); fwd = torch.compile(m)
    else:
        fwd = m
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(fwd(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    t0 = time.perf_counter()
    for _ in range(3): step()
    print(f'warmup {time.perf_counter()-t0:.1f}s', end=' ')
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps): step()
    t, c = time.perf_counter() - t, time.process_time() - c
    n = steps * bs
    print(f"{name} w={w} bs={bs} bf16={bf16} cl={cl}: {60000*t/n:6.2f} s/epoch wall, {60000*c/n:6.2f} cpu-s/epoch", flush=True)

if __name__ == "__main__":
    for spec in sys.argv[1:]:
        name, w, bs, bf16, cl = spec.split(",")
        bench(name, int(w), int(bs), bf16 == "1", cl == "1")
