#!/usr/bin/python3
"""Peer run: torchvision's vgg11_bn on Fashion-MNIST for one epoch with the issue's recipe (32x32, batch 64,
SGD lr 0.01, momentum 0.9, weight decay 5e-4), so vggrt's one-epoch accuracy has a same-machine reference with
the same preprocessing. Needs Debian's python3-torch and python3-torchvision; reads the IDX files of Debian's
dataset-fashion-mnist. Run: /usr/bin/python3 bench/peers/fmnist_pytorch.py [--init torchvision|glorot]
[--fit pad|resize] [--head torchvision|small] [--seed N] [--threads 2]
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

DATA = '/usr/share/datasets/fashion-mnist'
MEAN, STD = 0.2860, 0.3530  # the values vggrt's loader uses (src/data/dataset.ts)


def idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic, n = struct.unpack('>II', data[:8])
    if magic == 2051:
        h, w = struct.unpack('>II', data[8:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, 1, h, w)
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).reshape(n).long()


def prepare(images, fit):
    x = images.float() / 255.0
    if fit == 'pad':  # as vggrt: the 28x28 image centred on a zero canvas, then normalised
        x = F.pad(x, (2, 2, 2, 2))
    else:
        x = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)
    return (x - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--init', choices=['torchvision', 'glorot'], default='torchvision')
    ap.add_argument('--fit', choices=['pad', 'resize'], default='pad')
    ap.add_argument('--head', choices=['torchvision', 'small'], default='torchvision')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = prepare(idx(f'{DATA}/train-images-idx3-ubyte.gz'), a.fit), idx(f'{DATA}/train-labels-idx1-ubyte.gz')
    xte, yte = prepare(idx(f'{DATA}/t10k-images-idx3-ubyte.gz'), a.fit), idx(f'{DATA}/t10k-labels-idx1-ubyte.gz')

    model = torchvision.models.vgg11_bn(num_classes=10)
    model.features[0] = nn.Conv2d(1, 64, kernel_size=3, padding=1)  # grey images: one input channel
    if a.head == 'small':  # vggrt's small head: the 1x1x512 map straight into FC1 (no 49x repeat)
        model.avgpool = nn.Identity()
        model.classifier[0] = nn.Linear(512, 4096)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if a.init == 'glorot':
                nn.init.xavier_uniform_(m.weight)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            else:
                nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    model.train()
    t0 = time.time()
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 64):
        b = perm[i:i + 64]
        loss = F.cross_entropy(model(xtr[b]), ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.time() - t0

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 500):
            correct += (model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item()
    print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'model': 'vgg11_bn', 'init': a.init, 'fit': a.fit, 'head': a.head,
                      'seed': a.seed, 'threads': a.threads, 'epoch_s': round(train_s, 1),
                      'img_per_s': round(len(xtr) / train_s, 1), 'test_top1': correct / len(xte)}))


if __name__ == '__main__':
    main()
