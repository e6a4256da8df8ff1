"""``helmrl analyze`` and ``helmrl record``: the subject an analysis looks at, and each analysis
run on it, printed in one line and written as a figure; a video of a run. The CLI parses the
arguments and calls ``run_analysis`` or ``run_record``.
"""

from __future__ import annotations

import argparse

from ..errors import UsageError


def _analysis_subject(args: argparse.Namespace):  # an analysis.subject.Subject
    """A run's env, policy and own frozen stage (built from its config.json), or, without a run,
    an env under random actions seen through a default run's stage (helmrl.analysis.subject)."""
    from .subject import bare_subject, load_subject

    if args.run_dir and args.run and args.run_dir != args.run:
        raise UsageError(f"two run directories given ({args.run_dir}, --run {args.run}); give one")
    run = args.run_dir or args.run
    bare_only = {
        "--env": args.env,
        "--lm": args.lm,
        "--beta": getattr(args, "beta", None),
        "--mem-len": getattr(args, "mem_len", None),
    }
    if run:
        given = [name for name, value in bare_only.items() if value is not None]
        if given:
            raise UsageError(
                f"{', '.join(given)}: a run is analysed through its own env and frozen stage, as it "
                f"trained (its config.json); drop {'them' if len(given) > 1 else 'it'}, or give no run"
            )
        return load_subject(run, args.kind)
    return bare_subject(args.env, args.lm, args.seed, bare_only["--beta"], bare_only["--mem-len"])


def _check_analysis_args(args: argparse.Namespace) -> None:
    """The options' own limits, before any model loads."""
    if args.kind == "distances" and (args.n < 2 or any(b <= 0 for b in args.betas or ())):
        raise UsageError("--n must be >= 2 and every --betas value > 0")
    if args.kind == "memory" and (args.n_envs < 2 or args.steps < 2 or any(k < 0 for k in args.lags)):
        raise UsageError("--n-envs and --steps must be >= 2, --lags >= 0")
    if args.kind == "memory" and args.synthetic and args.symbols < 2:
        raise UsageError(f"--symbols {args.symbols}: a probe needs at least 2 distinct observations")
    if getattr(args, "max_steps", 1) < 1:
        raise UsageError(f"--max-steps {args.max_steps}: must be a positive number of steps")


def run_analysis(args: argparse.Namespace) -> int:
    """``helmrl analyze KIND``: one analysis of a run, or of an env through a default run's stage."""
    import torch

    from . import representations as rep
    from .defaults import DISTANCE_BETAS
    from .episodes import play_episode, random_observations

    _check_analysis_args(args)
    subject = _analysis_subject(args)
    torch.manual_seed(args.seed)  # a run's policy samples its actions: the episode follows --seed
    env_id = subject.env_id
    if args.kind == "memory":
        return _analyze_memory(args, subject)
    if args.kind == "distances":
        betas = list(args.betas or DISTANCE_BETAS)
        if subject.run_dir is not None and subject.config.beta not in betas:
            betas.append(subject.config.beta)  # the β it trained with
        hopfields = {b: subject.hopfield_at(b) for b in betas}
        data = rep.distance_analysis(random_observations(env_id, args.n, args.seed), hopfields, args.out)
        corr = ", ".join(f"β={b}: ρ={r:.3f}" for b, r in data["spearman_vs_observation"].items())
        print(
            f"{args.out}: {data['n_observations']} observations of {env_id} ({subject.title}); rank "
            f"correlation with observation distances {corr}"
        )
        return 0
    if args.kind == "words" and subject.config.input_map != "hopfield":
        return _analyze_fed_tokens(args, subject)  # SHELM
    # a random policy needs no histories; a run's acts on its own, as in training. No frames: the
    # figures show what the stage saw, the observations.
    stage = subject.stage if subject.agent is not None else None
    ep = play_episode(env_id, args.seed, subject.agent, stage, max_steps=args.max_steps)
    if args.kind == "words":
        data = rep.word_trace(ep, subject.hopfield, subject.tokenizer, args.out)
        print(
            f"{args.out}: {data['steps']} steps of {env_id} used {data['distinct_words']} distinct words: "
            + " ".join(data["words"][:20])
            + (" ..." if data["steps"] > 20 else "")
        )
    else:
        data = rep.attention_maps(ep, subject.frozen_history, args.out)
        tops = "; ".join(f"L{m['layer']}H{m['head']}→{m['top_steps']}" for m in data["maps"])
        print(f"{args.out}: attention over {data['steps']} steps of {env_id}, most-attended steps {tops}")
    return 0


def _analyze_fed_tokens(args: argparse.Namespace, subject) -> int:  # a Subject
    """`analyze words` on a SHELM run: the tokens its LM read at every step of one episode."""
    from .episodes import play_episode
    from .representations import fed_tokens

    stage = subject.stage
    ep = play_episode(subject.env_id, args.seed, subject.agent, stage, max_steps=args.max_steps)
    data = fed_tokens(ep, stage, subject.tokenizer, args.out)
    print(f"{args.out}: the {data['top_k']} tokens SHELM fed its LM at each of {data['steps']} steps:")
    for t, words in enumerate(data["words"]):
        print(f"  t={t:<4d} {' '.join(words)}")
    return 0


def _analyze_memory(args: argparse.Namespace, subject) -> int:  # a Subject
    from . import memory_probe as mp
    from .defaults import probe_layers

    n_layers = subject.frozen_history.lm.config.num_hidden_layers
    layers = args.layers if args.layers else probe_layers(n_layers)
    if any(not 0 <= k <= n_layers for k in layers):
        raise UsageError(f"--layers: this LM has layers 0..{n_layers}")
    if args.synthetic:
        trace = mp.synthetic_trace(args.n_envs, args.steps, args.symbols, seed=args.seed)
        obs_shape: tuple[int, ...] | None = (args.symbols,)
        source = f"synthetic, {args.symbols} symbols"
    else:
        stage = subject.stage if subject.agent is not None else None  # the run's policy acts on its own
        trace = mp.env_trace(subject.env_id, args.n_envs, args.steps, args.seed, subject.agent, stage)
        obs_shape = None
        source = f"{subject.env_id}, {'the run' if subject.agent is not None else 'random'} policy"
    # the subject's stage as built from its config, returning every layer's state
    probed = subject.variant(obs_shape, history_layer=mp.every_layer(n_layers))
    states = mp.record_states(probed, trace, label_tokens=not args.synthetic)
    results = mp.probe(states, trace, args.lags, layers, seed=args.seed, progress=not args.no_progress)
    res = mp.write_probe(results, args.out, f"{subject.config.lm}: {source}")
    best = "; ".join(f"lag {k}: layer {b[0]} ({b[1]:.2f}, chance {b[2]:.2f})" for k, b in res["best"].items())
    print(f"{res['png']}: best layer per lag: {best}  (table: {res['csv']})")
    if not args.layers:
        print(f"  probed layers {layers}; every layer: --layers {' '.join(map(str, range(n_layers + 1)))}")
    return 0


def run_record(args: argparse.Namespace) -> int:
    """``helmrl record RUN``: a video of the run's agent playing."""
    from .video import record

    if args.episodes <= 0:
        raise UsageError(f"--episodes {args.episodes}: must be a positive number of episodes")
    if args.out.suffix not in (".gif", ".mp4"):
        raise UsageError(f"--out {args.out}: use a .gif or .mp4 file name")
    res = record(args.run_dir, args.episodes, args.out, seed=args.seed)
    print(
        f"{res['out']}: {args.episodes} episodes, {res['frames']} frames, returns "
        + ", ".join(f"{r:.2f}" for r in res["returns"])
    )
    return 0
