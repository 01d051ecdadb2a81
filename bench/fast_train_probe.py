"""Scratch: time-to-99% probe."""
import json, os, sys, time
import torch
from torch import nn
import torch.nn.functional as F
sys.path.insert(0, "bench")
from fast_probe import NETS, bn_relu
from mnistlab.data import load_dataset

torch.set_num_threads(int(os.environ.get("THREADS", "1")))

def net_g(w=32):  # all stride-2 convs
    return nn.Sequential(
        nn.Conv2d(1, w, 5, stride=2, padding=2, bias=False), *bn_relu(w),            # 14
        nn.Conv2d(w, 2*w, 3, stride=2, padding=1, bias=False), *bn_relu(2*w),         # 7
        nn.Conv2d(2*w, 4*w, 3, stride=2, padding=1, bias=False), *bn_relu(4*w),       # 4
        nn.Flatten(), nn.Linear(4*w*16, 10))

def net_h(w=32):  # stride-2 stem, conv, pool, conv, pool
    return nn.Sequential(
        nn.Conv2d(1, w, 5, stride=2, padding=2, bias=False), *bn_relu(w),            # 14
        nn.Conv2d(w, 2*w, 3, padding=1, bias=False), *bn_relu(2*w), nn.MaxPool2d(2),  # 7
        nn.Conv2d(2*w, 4*w, 3, stride=2, padding=1, bias=False), *bn_relu(4*w),       # 4
        nn.Flatten(), nn.Linear(4*w*16, 10))
def net_t(w=24, w2=32, fc=256, k=5):  # tuomaso/train_mnist_fast style, pool before ReLU
    return nn.Sequential(
        nn.Conv2d(1, w, k), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(w, w2, 3), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Flatten(), nn.LazyLinear(fc), nn.ReLU(inplace=True), nn.Linear(fc, 10))

def net_tb(w=24, w2=32, fc=256, k=5):  # with BN
    return nn.Sequential(
        nn.Conv2d(1, w, k, bias=False), nn.MaxPool2d(2), *bn_relu(w),
        nn.Conv2d(w, w2, 3, bias=False), nn.MaxPool2d(2), *bn_relu(w2),
        nn.Flatten(), nn.LazyLinear(fc), nn.ReLU(inplace=True), nn.Linear(fc, 10))
def net_s(w=32, w2=48, fc=256, k=5, bn=False):  # strided stem instead of conv+pool
    norm = (lambda c: [nn.BatchNorm2d(c)]) if bn else (lambda c: [])
    return nn.Sequential(
        nn.Conv2d(1, w, k, stride=2, bias=not bn), *norm(w), nn.ReLU(inplace=True),
        nn.Conv2d(w, w2, 3, bias=not bn), nn.MaxPool2d(2), *norm(w2), nn.ReLU(inplace=True),
        nn.Flatten(), nn.LazyLinear(fc), nn.ReLU(inplace=True), nn.Linear(fc, 10))
def net_s2(w=32, w2=64, fc=256, k=5):  # two strided convs, no pooling
    return nn.Sequential(
        nn.Conv2d(1, w, k, stride=2), nn.ReLU(inplace=True),
        nn.Conv2d(w, w2, 3, stride=2), nn.ReLU(inplace=True),
        nn.Flatten(), nn.LazyLinear(fc), nn.ReLU(inplace=True), nn.Linear(fc, 10))

def net_s3(w=32, w2=48, fc=256, k=5):  # strided stem, conv, avgpool
    return nn.Sequential(
        nn.Conv2d(1, w, k, stride=2), nn.ReLU(inplace=True),
        nn.Conv2d(w, w2, 3), nn.ReLU(inplace=True), nn.AvgPool2d(2),
        nn.Flatten(), nn.LazyLinear(fc), nn.ReLU(inplace=True), nn.Linear(fc, 10))
NETS.update(g=net_g, h=net_h, t=net_t, tb=net_tb, s=net_s, s2=net_s2, s3=net_s3)

def main(cfg):
    c = dict(net="e", w=32, bs=512, epochs=2, lr=0.2, opt="sgd", bf16=1, ls=0.1, wd=5e-4,
             evals=8, seed=0, pct=0.25, mom=0.9)
    c.update(cfg)
    torch.manual_seed(c["seed"])
    tr, te = load_dataset("mnist", "train", val_size=0), load_dataset("mnist", "test")
    xtr = torch.from_numpy(tr.images.copy()).unsqueeze(1).float().div_(255)
    ytr = torch.from_numpy(tr.labels.copy())
    xte = torch.from_numpy(te.images.copy()).unsqueeze(1).float().div_(255)
    yte = torch.from_numpy(te.labels.copy())
    m = NETS[c["net"]](**c.get("args", {}))
    m(torch.zeros(2, 1, 28, 28))
    norm_mean, norm_std = 0.1307, 0.3081
    m = m.to(memory_format=torch.channels_last)
    steps_per_epoch = len(xtr) // c["bs"]
    total = steps_per_epoch * c["epochs"]
    if c["opt"] == "sgd":
        opt = torch.optim.SGD(m.parameters(), lr=c["lr"], momentum=c["mom"], nesterov=True, weight_decay=c["wd"])
    else:
        opt = torch.optim.AdamW(m.parameters(), lr=c["lr"], weight_decay=c["wd"], betas=tuple(c.get("betas", (0.9, 0.999))), fused=bool(c.get("fused", 0)))
    from mnistlab.train import lr_at
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda st: lr_at(c.get("sched", "onecycle"), 1.0, st, total))
    eval_every = max(1, total // c["evals"])
    def evaluate():
        m.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(c["bf16"])):
            correct = sum((m((xte[i:i+2000]-norm_mean)/norm_std).argmax(1) == yte[i:i+2000]).sum().item() for i in range(0, len(xte), 2000))
        m.train()
        return correct / len(xte)
    wall = cpu = 0.0; step = 0; hits = []
    for ep in range(c["epochs"]):
        t, p = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(xtr))
        for i in range(steps_per_epoch):
            idx = perm[i*c["bs"]:(i+1)*c["bs"]]
            x = (xtr[idx] - norm_mean) / norm_std
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(c["bf16"])):
                loss = F.cross_entropy(m(x), ytr[idx], label_smoothing=c["ls"])
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
            step += 1
            if step % eval_every == 0 or step == total:
                wall += time.perf_counter() - t; cpu += time.process_time() - p
                acc = evaluate(); hits.append((round(wall, 2), round(cpu, 2), acc))
                t, p = time.perf_counter(), time.process_time()
        wall += time.perf_counter() - t; cpu += time.process_time() - p
    first = next((h for h in hits if h[2] >= 0.99), None)
    return hits[-1], first

if __name__ == "__main__":
    for a in sys.argv[1:]:
        cfg = json.loads(a)
        res = [main({**cfg, "seed": s}) for s in cfg.pop("seeds", [0, 1, 2])]
        accs = [r[0][2] for r in res]; cpus = [r[0][1] for r in res]
        print(f"{a}\n   acc {accs} min {min(accs):.4f} mean {sum(accs)/len(accs):.4f} | cpu-s {cpus} | wall {[r[0][0] for r in res]}", flush=True)
