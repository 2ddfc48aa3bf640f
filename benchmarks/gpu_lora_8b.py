"""GPU benchmark: LoRA steps on the Llama-3.1-8B architecture with random weights (no download).

bf16 weights, LoRA r=16 on all attention and MLP projections, gradient checkpointing, sequences of
2048 tokens. Reports training tokens/s, peak GPU memory and model FLOPs utilisation (MFU):

    model FLOPs per token = 4 * N + 6 * layers * seq_len * hidden

N counts the weights of every matrix multiply (lm_head included, embedding lookup not). A frozen
base needs no weight gradients, so forward (2N) + backward to the activations (2N) = 4N; causal
attention scores and values add 2 * 2 * layers * seq_len/2 * hidden forward, doubled backward.
Recomputation by gradient checkpointing and the LoRA matrices themselves are not counted, so
MFU is conservative. Target on an H100: MFU >= 40%.

    python benchmarks/gpu_lora_8b.py [--steps 30] [--batch-size 4] [--out result.json]
    python benchmarks/gpu_lora_8b.py --scale-down --steps 2     # the same code path, small (float32 on a CPU)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# Peak dense bf16 tensor throughput, TFLOP/s (vendor data sheets, without sparsity).
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# Llama-3.1-8B's published architecture.
LLAMA_31_8B = dict(
    vocab_size=128256,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=128000,
    eos_token_id=128009,
    rope_parameters={
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
)
SCALED_DOWN = dict(
    LLAMA_31_8B,
    vocab_size=4096,
    hidden_size=256,
    intermediate_size=896,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=1,
    bos_token_id=1,
    eos_token_id=2,
)


def llama_31_8b_config(scale_down: bool):
    from transformers import LlamaConfig

    return LlamaConfig(**(SCALED_DOWN if scale_down else LLAMA_31_8B))


def matmul_weights(model) -> int:
    """Weights that take part in matrix multiplies: every nn.Linear of the base (LoRA excluded)."""
    return sum(
        m.weight.numel() for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lora_" not in name
    )


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_TFLOPS.items():  # most specific names first
        if key in device_name:
            return value
    return None


def run(args) -> dict:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.scale_down:
        raise SystemExit("no CUDA device: the full 8B benchmark needs a GPU (try --scale-down to check the script)")
    torch.manual_seed(0)
    config = llama_31_8b_config(args.scale_down)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32  # CPUs are slow at bf16 matmuls
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype, attn_implementation=args.attn)
    model.config.use_cache = False
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model = get_peft_model(
        model,
        LoraConfig(
            r=16, lora_alpha=32, lora_dropout=args.lora_dropout, target_modules=PROJECTIONS, task_type="CAUSAL_LM"
        ),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-4, fused=device == "cuda")
    n_matmul = matmul_weights(model)
    tokens_per_step = args.batch_size * args.seq_len
    flops_per_token = 4 * n_matmul + 6 * config.num_hidden_layers * args.seq_len * config.hidden_size

    def step():
        ids = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len), device=device)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss = loss.item()  # waits for the last step
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    tokens_per_s = args.steps * tokens_per_step / seconds
    achieved_tflops = tokens_per_s * flops_per_token / 1e12
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = args.peak_tflops or peak_tflops(name)
    return {
        "stage": "gpu_lora_8b" + ("_scaled_down" if args.scale_down else ""),
        "device": name,
        "torch": torch.__version__,
        "attn_implementation": args.attn,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "seconds": round(seconds, 2),
        "step_seconds": round(seconds / args.steps, 3),
        "tokens_per_s": round(tokens_per_s, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "matmul_parameters": n_matmul,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "model_tflops_per_s": round(achieved_tflops, 1),
        "peak_tflops": peak,
        "mfu": round(achieved_tflops / peak, 4) if peak else None,
        "final_loss": round(loss, 4),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="timed LoRA steps (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--batch-size", type=int, default=4, help="sequences per step (default 4)")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--attn", default="sdpa", choices=("sdpa", "flash_attention_2", "eager"))
    ap.add_argument("--peak-tflops", type=float, help="the GPU's peak bf16 TFLOP/s, if not in the table")
    ap.add_argument("--scale-down", action="store_true", help="a 2-layer narrow model of the same architecture")
    ap.add_argument("--out", help="also write the result JSON here")
    return ap.parse_args(argv)


def main() -> None:
    args = parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
