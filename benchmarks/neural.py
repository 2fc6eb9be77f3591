"""RNNLM, LSTMLM and GRULM side by side with a plain PyTorch training loop.

Usage::

    python benchmarks/neural.py --data PATH/TO/CORPORA --plain PATH/TO/plain_torch_lm.py
        [--suite speed word adaptive char] [--protocols P1 P2]
        [--cells lstm gru rnn_tanh rnn_relu] [--epochs 1] [--repeats 1] [--threads 2]
        [--speed-seconds 30] [--softmax full adaptive] [--plain-tuned-malloc]
        [--budget 600] [--concurrent] [--constant-lr] [--json results.json]

``PATH/TO/CORPORA`` holds the public corpora of ``benchmarks/_corpora.py``.
``--plain`` is a plain PyTorch recurrent LM script with a ``--per-line`` mode
(every line an independent sample from ``<s>`` and a zero state, bucketed by
length, padded and masked) that prints one JSON line at the end; it runs as a
child process in the same run, with the same configuration, data, seed and
thread count. Without ``--plain`` only sklm is measured.

Suites:

speed
    Training speed only: sklm and the plain loop train for
    ``--speed-seconds`` on the training set of each protocol of
    ``--protocols``, in alternating order (sklm, plain, plain, sklm, ...)
    ``--repeats`` times;
    the median of the paired tokens/s ratios is reported (target >= 1.0),
    with tokens per CPU-second next to it. With ``--plain-tuned-malloc`` the
    plain loop also runs with the C-allocator thresholds that sklm sets for
    its own training (``sklm/_allocator.py``), which shows how much of
    the difference is that setting. Short alternating runs keep the
    ratio meaningful on a machine whose other jobs come and go.
word
    Protocols P1 (PTB) and P2 (WikiText-2), every cell of ``--cells``: two
    layers of 200 units, embeddings of 200, dropout 0.2, BPTT 35, batch 20,
    SGD with learning rate 20, gradient norm clipped at 0.25, ``--epochs``
    epochs. Reported: training tokens/s of both (training steps only, as the
    plain loop counts them; sklm's whole ``fit`` time too), their ratio
    (target >= 1.0), test perplexity of both after the same epochs (target:
    within 2%), parameter counts.
adaptive
    P2 with ``softmax="adaptive"`` against sklm's full softmax of the word
    suite (or a fresh full-softmax run): speed-up and perplexity cost.
char
    Protocol C3 (Tiny Shakespeare, character level), every cell of
    ``--cells``, for ``--budget`` seconds of training each: validation
    nats/char. sklm reads each line as a sample (its ``</s>`` is the newline);
    the plain loop reads the text as one stream (``--char`` mode, its only
    character mode) with a 10% validation tail: the same characters, but the
    stream carries context across lines, which per-line samples cannot.

Prints one line per measurement and a JSON summary (also written to
``--json``).
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpora  # noqa: E402

from sklm import _allocator  # noqa: E402
from sklm.metrics import perplexity  # noqa: E402
from sklm.neural import GRULM, LSTMLM, RNNLM  # noqa: E402

WORD_CONFIG = dict(
    emsize=200,
    nhid=200,
    nlayers=2,
    dropout=0.2,
    bptt=35,
    batch_size=20,
    optim="sgd",
    lr=20.0,
    clip=0.25,
)
CHAR_CONFIG = dict(
    emsize=64,
    nhid=256,
    nlayers=2,
    dropout=0.0,
    bptt=100,
    batch_size=32,
    optim="adam",
    lr=2e-3,
    clip=5.0,
)
FILES = {
    "P1": ("ptb.valid.txt", "ptb.test.txt"),
    "P2": ("wikitext-2.valid.txt", "wikitext-2.test.txt"),
}
LOADERS = {"P1": _corpora.load_p1, "P2": _corpora.load_p2}


def sklm_model(cell, cfg, seed, **extra):
    params = dict(
        embedding_dim=cfg["emsize"],
        hidden_size=cfg["nhid"],
        num_layers=cfg["nlayers"],
        dropout=cfg["dropout"],
        bptt=cfg["bptt"],
        batch_size=cfg["batch_size"],
        optimizer=cfg["optim"],
        learning_rate=cfg["lr"],
        clip_grad_norm=cfg["clip"],
        random_state=seed,
        device="cpu",
    )
    params.update(extra)
    if cell.startswith("rnn_"):
        return RNNLM(nonlinearity=cell[4:], **params)
    return {"lstm": LSTMLM, "gru": GRULM}[cell](**params)


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_sklm(lm, train, test=None):
    c0 = cpu_seconds(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    lm.fit(train)
    fit_s = time.perf_counter() - t0
    fit_cpu = cpu_seconds(resource.RUSAGE_SELF) - c0
    tokens = sum(h["tokens"] for h in lm.history_)
    seconds = sum(h["seconds"] for h in lm.history_)
    out = {
        "tokens_per_s": tokens / seconds,
        "fit_tokens_per_s": tokens / fit_s,
        "train_tokens": tokens,
        "train_seconds": round(seconds, 2),
        "fit_seconds": round(fit_s, 2),
        "fit_cpu_seconds": round(fit_cpu, 2),
        "params": lm.n_parameters_,
        "recurrent_params": sum(p.numel() for p in lm.module_.rnn.parameters()),
        "vocab": len(lm.classes_),
        "epochs": len(lm.history_),
    }
    if test is not None:
        t0 = time.perf_counter()
        ppl = perplexity(lm, test)
        out.update(
            test_perplexity=ppl,
            test_nats=math.log(ppl),
            score_seconds=round(time.perf_counter() - t0, 2),
        )
    return out


def plain_env(tuned):
    """The plain loop's environment; ``tuned`` gives its C allocator the
    thresholds sklm sets for itself (``sklm/_allocator.py``), through
    glibc's environment variables, so the allocator's share of a difference
    shows."""
    env = dict(os.environ)
    if tuned:
        env["MALLOC_TRIM_THRESHOLD_"] = env["MALLOC_MMAP_THRESHOLD_"] = str(_allocator.THRESHOLD)
    return env


class PlainRun:
    """The plain loop as a child process: started now, its result read by ``result()``.

    Only one child runs at a time, so the children's CPU time counted by the
    kernel between start and end is this child's.
    """

    def __init__(self, script, args, tuned=False):
        cmd = [sys.executable, str(script), *map(str, args)]
        self._cpu0 = cpu_seconds(resource.RUSAGE_CHILDREN)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=plain_env(tuned))

    def result(self):
        out, _ = self._proc.communicate()
        if self._proc.returncode:
            raise subprocess.CalledProcessError(self._proc.returncode, self._proc.args)
        result = json.loads(out.strip().splitlines()[-1])
        # Whole-process CPU time (start-up, reading and evaluation included).
        result["process_cpu_seconds"] = round(cpu_seconds(resource.RUSAGE_CHILDREN) - self._cpu0, 2)
        return result


def run_plain(script, args, tuned=False):
    return PlainRun(script, args, tuned).result()


def plain_args(cfg, cell, seed, threads):
    return [
        "--cell",
        cell,
        "--emsize",
        cfg["emsize"],
        "--nhid",
        cfg["nhid"],
        "--nlayers",
        cfg["nlayers"],
        "--dropout",
        cfg["dropout"],
        "--bptt",
        cfg["bptt"],
        "--batch-size",
        cfg["batch_size"],
        "--optim",
        cfg["optim"],
        "--lr",
        cfg["lr"],
        "--clip",
        cfg["clip"],
        "--seed",
        seed,
        "--threads",
        threads,
    ]


def word_run(row, args, schedule, train, test):
    """One sklm fit of the word suite; None (the error kept in ``row``) if it diverged."""
    lm = sklm_model(row["cell"], WORD_CONFIG, args.seed, max_epochs=args.epochs, **schedule)
    try:
        return run_sklm(lm, train, test)
    except ValueError as exc:  # divergence: record it, go on
        row["sklm_error"] = str(exc)
        print(f"{row['protocol']} {row['cell']}: sklm {exc}", flush=True)
        return None


def word_suite(args, results):
    for protocol in args.protocols:
        train, test = LOADERS[protocol](args.data)
        files = [Path(args.data) / f for f in FILES[protocol]]
        for cell in args.cells:
            row = {"suite": "word", "protocol": protocol, "cell": cell, "epochs": args.epochs}
            plain_cmd = [
                "--per-line",
                "--train",
                files[0],
                "--valid",
                files[1],
                "--epochs",
                args.epochs,
                *plain_args(WORD_CONFIG, cell, args.seed, args.threads),
            ]
            schedule = {}
            if args.constant_lr:
                plain_cmd += ["--anneal", 1]
                schedule["lr_schedule"] = None
            row["constant_lr"] = args.constant_lr
            sk_runs, plain_runs = [], []
            if args.concurrent:
                row["concurrent"] = True
                for r in range(args.repeats):
                    child = None
                    if args.plain:
                        extra = ["--no-eval"] if r else []
                        child = PlainRun(args.plain, plain_cmd + extra)
                    run = word_run(row, args, schedule, train, None if sk_runs else test)
                    if run is not None:
                        sk_runs.append(run)
                    if child is not None:
                        plain_runs.append(child.result())
                    if "sklm_error" in row:
                        break
            # Alternate the order (AB, BA, ...) so that a load change on a
            # shared machine does not favour one side; only the first run of
            # each side is evaluated (the same seed gives the same model).
            for r in range(0 if args.concurrent else args.repeats):
                sides = ["sklm", "plain"] if r % 2 == 0 else ["plain", "sklm"]
                for side in sides:
                    if side == "sklm":
                        run = word_run(row, args, schedule, train, None if sk_runs else test)
                        if run is None:
                            break
                        sk_runs.append(run)
                    elif args.plain:
                        extra = ["--no-eval"] if plain_runs else []
                        plain_runs.append(run_plain(args.plain, plain_cmd + extra))
            if not sk_runs:
                if plain_runs:
                    row["plain"] = plain_runs[0]
                    print(f"{protocol} {cell}: plain ppl {plain_runs[0]['valid_ppl']}", flush=True)
                results.append(row)
                continue
            row["sklm"] = sk_runs[0]
            row["sklm_tokens_per_s_runs"] = [run["tokens_per_s"] for run in sk_runs]
            if args.plain:
                row["plain"] = plain_runs[0]
                row["plain_tokens_per_s_runs"] = [run["tokens_per_s"] for run in plain_runs]
                ratios = [
                    a / b
                    for a, b in zip(row["sklm_tokens_per_s_runs"], row["plain_tokens_per_s_runs"])
                ]
                row["speed_ratio_runs"] = ratios
                row["speed_ratio"] = sorted(ratios)[len(ratios) // 2]
                row["ppl_rel_diff"] = row["sklm"]["test_perplexity"] / row["plain"]["valid_ppl"] - 1
            report(row)
            results.append(row)


def speed_suite(args, results):
    """Training speed only: ``--speed-seconds`` of training each, in ABAB order.

    Both sides train on the whole training set of the protocol (so the
    vocabulary is the real one) and stop after the same time budget; short
    alternating runs make the ratio robust to the load of a shared machine;
    the median of the per-pair ratios is reported.
    """
    for protocol in args.protocols:
        train, _ = LOADERS[protocol](args.data)
        path = Path(args.data) / FILES[protocol][0]
        for cell in args.cells:
            for softmax in args.softmax:
                row = {
                    "suite": "speed",
                    "protocol": protocol,
                    "cell": cell,
                    "softmax": softmax,
                    "seconds_each": args.speed_seconds,
                }
                sk, pl, sk_cpu, pl_cpu, pt = [], [], [], [], []
                for r in range(args.repeats):
                    sides = ["sklm", "plain"] if r % 2 == 0 else ["plain", "sklm"]
                    if args.plain_tuned_malloc:
                        sides.insert(1, "plain_tuned")
                    for side in sides:
                        if side == "sklm":
                            lm = sklm_model(
                                cell,
                                WORD_CONFIG,
                                args.seed,
                                max_epochs=1,
                                softmax=softmax,
                                max_time=args.speed_seconds,
                            )
                            out = run_sklm(lm, train)
                            sk.append(out["tokens_per_s"])
                            sk_cpu.append(out["train_tokens"] / out["fit_cpu_seconds"])
                        elif args.plain and softmax == "full":
                            out = run_plain(
                                args.plain,
                                [
                                    "--per-line",
                                    "--train",
                                    path,
                                    "--epochs",
                                    1,
                                    "--no-eval",
                                    "--max-seconds",
                                    args.speed_seconds,
                                    *plain_args(WORD_CONFIG, cell, args.seed, args.threads),
                                ],
                                tuned=side == "plain_tuned",
                            )
                            if side == "plain_tuned":
                                pt.append(out["tokens_per_s"])
                            else:
                                pl.append(out["tokens_per_s"])
                                pl_cpu.append(out["train_tokens"] / out["process_cpu_seconds"])
                row["sklm_tokens_per_s_runs"] = sk
                # Tokens per CPU-second of the whole fit / child process (start-up
                # and data reading included): less sensitive than wall time to
                # other jobs on the machine.
                row["sklm_tokens_per_cpu_s_runs"] = sk_cpu
                row["load_average"] = os.getloadavg()
                if pl:
                    row["plain_tokens_per_cpu_s_runs"] = pl_cpu
                    row["plain_tokens_per_s_runs"] = pl
                    row["speed_ratio_runs"] = sorted(a / b for a, b in zip(sk, pl))
                    row["speed_ratio"] = statistics.median(row["speed_ratio_runs"])
                if pt:
                    row["plain_tuned_tokens_per_s_runs"] = pt
                    row["speed_ratio_tuned_runs"] = sorted(a / b for a, b in zip(sk, pt))
                    row["speed_ratio_tuned"] = statistics.median(row["speed_ratio_tuned_runs"])
                report(row)
                results.append(row)


def adaptive_suite(args, results):
    train, test = _corpora.load_p2(args.data)
    full = next(
        (
            r
            for r in results
            if r["suite"] == "word" and r["protocol"] == "P2" and r["cell"] == "lstm"
        ),
        None,
    )
    row = {"suite": "adaptive", "protocol": "P2", "cell": "lstm", "epochs": args.epochs}
    if full is None:
        lm = sklm_model("lstm", WORD_CONFIG, args.seed, max_epochs=args.epochs)
        row["full"] = run_sklm(lm, train, test)
    else:
        row["full"] = full["sklm"]
    lm = sklm_model("lstm", WORD_CONFIG, args.seed, max_epochs=args.epochs, softmax="adaptive")
    row["adaptive"] = run_sklm(lm, train, test)
    row["cutoffs"] = list(lm.module_.decoder.cutoffs[:-1])
    row["speed_up"] = row["adaptive"]["tokens_per_s"] / row["full"]["tokens_per_s"]
    row["ppl_rel_cost"] = row["adaptive"]["test_perplexity"] / row["full"]["test_perplexity"] - 1
    report(row)
    results.append(row)


def char_lines(text):
    # Each line is a sample of characters; its </s> stands for the newline.
    return [list(line) for line in text.split("\n")]


def char_suite(args, results):
    train_text, test_text = _corpora.load_c3(args.data)
    train, test = char_lines(train_text), char_lines(test_text)
    for cell in args.cells:
        row = {"suite": "char", "protocol": "C3", "cell": cell, "budget_s": args.budget}
        child = None
        if args.plain:
            plain_cmd = [
                "--char",
                "--train",
                Path(args.data) / "tinyshakespeare.txt",
                "--valid-frac",
                0.1,
                "--epochs",
                10_000,
                "--max-seconds",
                args.budget,
                *plain_args(CHAR_CONFIG, cell, args.seed, args.threads),
            ]
            if args.concurrent:
                row["concurrent"] = True
                child = PlainRun(args.plain, plain_cmd)
        lm = sklm_model(cell, CHAR_CONFIG, args.seed, max_epochs=10_000, max_time=args.budget)
        row["sklm"] = run_sklm(lm, train, test)
        if args.plain:
            plain = child.result() if child is not None else run_plain(args.plain, plain_cmd)
            plain.pop("curve", None)
            row["plain"] = plain
        report(row)
        results.append(row)


def report(row):
    s = row.get("sklm") or row.get("adaptive")
    if row["suite"] == "speed":
        sk = ", ".join(f"{v:.0f}" for v in row["sklm_tokens_per_s_runs"])
        line = (
            f"speed {row['protocol']} {row['cell']:<8} {row['softmax']:<8} "
            f"{row['seconds_each']:g}s each: sklm [{sk}] tok/s"
        )
        if "plain_tokens_per_s_runs" in row:
            pl = ", ".join(f"{v:.0f}" for v in row["plain_tokens_per_s_runs"])
            ratios = ", ".join(f"{v:.3f}" for v in row["speed_ratio_runs"])
            line += f" | plain [{pl}] tok/s | ratios [{ratios}] median x{row['speed_ratio']:.3f}"
        if "plain_tuned_tokens_per_s_runs" in row:
            pt = ", ".join(f"{v:.0f}" for v in row["plain_tuned_tokens_per_s_runs"])
            line += (
                f" | plain, same allocator setting [{pt}] tok/s, "
                f"median x{row['speed_ratio_tuned']:.3f}"
            )
    elif row["suite"] == "word":
        line = (
            f"{row['protocol']} {row['cell']:<8} sklm {s['tokens_per_s']:8.0f} tok/s "
            f"(fit {s['fit_tokens_per_s']:.0f}) ppl {s['test_perplexity']:8.2f} "
            f"params {s['params']:,}"
        )
        if "plain" in row:
            p = row["plain"]
            runs = ", ".join(f"{r:.3f}" for r in row["speed_ratio_runs"])
            line += (
                f" | plain {p['tokens_per_s']:8.0f} tok/s ppl {p['valid_ppl']:8.2f} "
                f"| speed x{row['speed_ratio']:.3f} ({runs}) "
                f"ppl {100 * row['ppl_rel_diff']:+.2f}%"
            )
    elif row["suite"] == "adaptive":
        f = row["full"]
        line = (
            f"P2 lstm adaptive {s['tokens_per_s']:.0f} tok/s ppl {s['test_perplexity']:.2f} "
            f"vs full {f['tokens_per_s']:.0f} tok/s ppl {f['test_perplexity']:.2f}: "
            f"speed-up x{row['speed_up']:.2f}, perplexity {100 * row['ppl_rel_cost']:+.2f}%"
        )
    else:
        line = (
            f"C3 {row['cell']:<8} {row['budget_s']}s: sklm {s['test_nats']:.4f} nats/char "
            f"({s['train_tokens']:,} chars trained, {s['tokens_per_s']:.0f}/s)"
        )
        if "plain" in row:
            p = row["plain"]
            line += (
                f" | plain {p['valid_loss']:.4f} nats/char ({p['train_tokens']:,} chars, "
                f"{p['tokens_per_s']:.0f}/s)"
            )
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the public corpora")
    p.add_argument("--plain", help="plain PyTorch LM script to compare with (per-line mode)")
    p.add_argument(
        "--suite",
        nargs="+",
        default=["speed", "word", "adaptive", "char"],
        choices=["speed", "word", "adaptive", "char"],
    )
    p.add_argument(
        "--speed-seconds", type=float, default=30.0, help="speed suite: seconds of training per run"
    )
    p.add_argument(
        "--softmax",
        nargs="+",
        default=["full"],
        choices=["full", "adaptive"],
        help="speed suite: output layers to time (the plain loop has only full)",
    )
    p.add_argument("--protocols", nargs="+", default=["P1", "P2"], choices=["P1", "P2"])
    p.add_argument(
        "--cells",
        nargs="+",
        default=["lstm", "gru", "rnn_tanh", "rnn_relu"],
        choices=["lstm", "gru", "rnn_tanh", "rnn_relu"],
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--budget", type=float, default=600.0, help="char suite: seconds of training per model"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="word suite: timed runs per side, in alternating order",
    )
    p.add_argument(
        "--plain-tuned-malloc",
        action="store_true",
        help="speed suite: also time the plain loop with the allocator "
        "thresholds sklm sets for itself (glibc environment variables)",
    )
    p.add_argument(
        "--concurrent",
        action="store_true",
        help="word and char suites: run the plain loop at the same time as "
        "sklm instead of after it (use with --threads 1 on a 2-core "
        "machine: one core each)",
    )
    p.add_argument(
        "--constant-lr",
        action="store_true",
        help="word suite: no learning-rate schedule on either side (sklm "
        "lr_schedule=None, the plain loop --anneal 1)",
    )
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    if "speed" in args.suite:
        speed_suite(args, results)
    if "word" in args.suite:
        word_suite(args, results)
    if "adaptive" in args.suite:
        adaptive_suite(args, results)
    if "char" in args.suite:
        char_suite(args, results)
    summary = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"torch {torch.__version__}, {args.threads} threads",
        "sklm_allocator_thresholds_raised": _allocator.keep_large_buffers(),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(sys.argv),
        "results": results,
    }
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
