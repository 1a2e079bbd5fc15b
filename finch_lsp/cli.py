"""The ``finch-lsp`` command: the language server on stdio by default, and subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from finch_lsp import __version__

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _server_options(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """The server's options, on the top-level parser and again on each subcommand.

    On a subcommand they default to nothing at all (``SUPPRESS``), so that an option given
    before the subcommand (``finch-lsp --data-dir D bench``) is not reset by the
    subcommand's own default.
    """
    unset = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--model", help="model name (overrides the editor setting and FINCH_MODEL)", **unset)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="device (default: auto)", **unset)
    parser.add_argument("--data-dir", help="where feedback and adapters live (default: FINCH_DATA_DIR or the user data dir)", **unset)
    parser.add_argument("--log-file", help="write the log here instead of stderr", **unset)
    parser.add_argument("--log-level", type=str.upper, choices=LEVELS, **({"default": "INFO"} if top else unset))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finch-lsp", description="A code-completion language server that learns from its user.")
    parser.add_argument("--version", action="version", version=f"finch-lsp {__version__}")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    _server_options(parser)
    sub = parser.add_subparsers(dest="command")
    bench = sub.add_parser("bench", help="measure end-to-end completion latency against raw generate")
    _server_options(bench, top=False)
    bench.add_argument("--runs", type=int, default=20)
    bench.add_argument("--new-tokens", type=int, default=32)
    bench.add_argument("--prompt-tokens", type=int, default=0, help="pad the prompt to about this many tokens (0: a short prompt)")
    bench.add_argument("--output", help="append the result as a markdown section to this file")
    bench.add_argument("--learning", action="store_true", help="measure the learning scenario (hit rate, forgetting, training time) instead of latency")
    bench.add_argument("--replay", action="store_true", help="replay typing over a third-party package, learning from implicit feedback only")
    bench.add_argument("--package", help="--replay: the installed package whose code is typed (default: click)")
    bench.add_argument("--per-file", type=int, default=12, help="--replay: cursor points per file")
    bench.add_argument("--families", help="--learning: preference families to train on (comma-separated, or all)")
    bench.add_argument("--seeds", type=int, default=5, help="--learning --families: seeds per family")
    bench.add_argument("--set", action="append", metavar="KEY=VALUE", help="--learning --families: override a TrainConfig field; --replay: a finch.training setting (camelCase)")
    bench.add_argument("--timing", action="store_true", help="--learning: rating to active adapter for ten ratings, and completion latency during training")
    bench.add_argument("--quality", action="store_true", help="measure HumanEval fill-in-the-middle pass@1 instead of latency")
    bench.add_argument("--kind", choices=["single", "multi", "both"], default="both", help="--quality: single-line tasks, multi-line tasks or both")
    bench.add_argument("--limit", type=int, help="--quality: only the first N HumanEval problems")
    bench.add_argument("--adapter", metavar="DIR", help="--quality: also measure this adapter version directory; alone: what the adapter costs a completion (plain and selective decoding against the base model)")
    bench.add_argument("--fuzz", type=float, metavar="SECONDS", help="drive the server with random frames, JSON and positions for SECONDS instead")
    bench.add_argument("--seed", type=int, default=0, help="the random seed of --fuzz; --learning --families: the first seed (seeds SEED .. SEED+SEEDS-1)")
    bench.add_argument("--keystroke", action="store_true", help="measure what a keystroke prefills with KV prefix reuse against a cold request")
    bench.add_argument("--long-file", action="store_true", help="--keystroke: in a file twice the prompt budget, typing two lines")
    bench.add_argument("--beside-load", action="store_true", help="completion latency on a quiet machine and beside busy processes")
    bench.add_argument("--hogs", type=int, default=1, help="--beside-load: busy processes started beside the server")
    bench.add_argument("--peer", choices=["llama.cpp"], help="run finch's CPU path side by side with llama.cpp (needs the [llama] extra)")
    bench.add_argument("--threads", type=int, default=0, help="CPU threads given to both sides with --peer (0: all cores)")
    demo = sub.add_parser("demo", help="drive the server like an editor and print what it shows")
    _server_options(demo, top=False)
    demo.add_argument("--client", choices=["auto", "nvim", "stdio"], default="auto", help="the editor: headless Neovim (auto, when found) or a plain stdio client")
    from finch_lsp.models.command_line import add_parser as add_models_parser

    add_models_parser(sub)
    return parser


class ExpectedErrorsFilter(logging.Filter):
    """pygls logs every error response with a traceback at ERROR; bad arguments are expected.

    Invalid params, unknown methods, cancellations and an editor that went away mid-answer
    (broken pipe) become one INFO line without traceback.
    """

    QUIET_CODES = (-32602, -32601, -32800)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        quiet = getattr(exc, "code", None) in self.QUIET_CODES or isinstance(exc, BrokenPipeError)
        if record.name.startswith("pygls") and quiet:
            record.msg, record.args = f"{record.getMessage()}: {exc}", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def setup_logging(level: str, log_file: str | None) -> None:
    if log_file:
        from finch_lsp.paths import private_file

        private_file(log_file)  # 0600: at debug level the log holds the user's code
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.addFilter(ExpectedErrorsFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pygls", "httpx", "httpx2", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def serve(args: argparse.Namespace) -> int:
    """Run the server until ``exit`` or end of input; the process ends here (see hard_exit)."""
    from finch_lsp.server.state import hard_exit
    from finch_lsp.server.transport import serve_stdio, serve_tcp
    from finch_lsp.server.wiring import ServerOptions, create_server

    if args.data_dir:
        os.environ["FINCH_DATA_DIR"] = args.data_dir
    server = create_server(ServerOptions(model=args.model, device=args.device, data_dir=args.data_dir))
    code = 1
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            code = serve_tcp(server, host or "127.0.0.1", int(port))
        else:
            code = serve_stdio(server)
    except Exception:  # noqa: BLE001 - logged here: hard_exit skips the interpreter's report
        logging.getLogger(__name__).exception("the server stopped on an error")
    finally:
        server.close(wait=10.0)
        hard_exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_file)
    if args.command == "bench" and args.replay:
        from finch_lsp.tools.replay import run_replay_bench

        return run_replay_bench(args)
    if args.command == "bench" and args.quality:
        from finch_lsp.tools.quality_bench import run_quality_bench

        return run_quality_bench(args)
    if args.command == "bench" and args.fuzz:
        from finch_lsp.tools.fuzz import run_fuzz_bench

        return run_fuzz_bench(args)
    if args.command == "bench" and args.learning and args.families:
        from finch_lsp.tools.family_bench import run_family_bench

        return run_family_bench(args)
    if args.command == "bench" and args.learning and args.timing:
        from finch_lsp.tools.train_timing import run_timing_bench

        return run_timing_bench(args)
    if args.command == "bench" and args.learning:
        from finch_lsp.tools.lessons import run_learning_bench

        return run_learning_bench(args)
    if args.command == "bench" and args.keystroke:
        from finch_lsp.tools.keystroke import run_keystroke_bench

        return run_keystroke_bench(args)
    if args.command == "bench" and args.adapter:
        from finch_lsp.tools.adapter_cost import run_adapter_cost_bench

        return run_adapter_cost_bench(args)
    if args.command == "bench" and args.beside_load:
        from finch_lsp.tools.beside_load import run_beside_load_bench

        return run_beside_load_bench(args)
    if args.command == "bench" and args.peer:
        from finch_lsp.tools.peer import run_peer_bench

        return run_peer_bench(args)
    if args.command == "bench":
        from finch_lsp.tools.latency import run_bench

        return run_bench(args)
    if args.command == "demo":
        from finch_lsp.tools.demo import run_demo

        return run_demo(args)
    if args.command == "models":
        from finch_lsp.models.command_line import run as run_models

        return run_models(args)
    return serve(args)
