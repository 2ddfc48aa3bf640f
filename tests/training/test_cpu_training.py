"""What makes CPU training fast must not change what it computes: the labelled-positions LM head
gives the model's own loss and gradients, and `model.dtype: auto` reads the CPU's flags."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from trl.trainer.utils import add_fused_lm_head

from training.hardware import cpu_has_native_bf16, resolve_dtype
from training.lm_head import score_labelled_positions_only


def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def batch():
    ids = torch.randint(0, 97, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[0, 4:9] = ids[0, 4:9]  # an assistant turn in the middle
    labels[1, 7:] = ids[1, 7:]  # one at the end
    labels[2, 2:3] = ids[2, 2:3]  # a one-token reply
    return ids, labels


@pytest.mark.parametrize("num_items_in_batch", [None, 20])
def test_labelled_head_gives_the_models_own_loss_and_gradients(num_items_in_batch):
    ids, labels = batch()
    reference, lean = tiny_llama(), tiny_llama()
    add_fused_lm_head(lean)  # as SFTTrainer does, then replaced
    score_labelled_positions_only(lean)
    expected = reference(input_ids=ids, labels=labels).loss
    if num_items_in_batch:
        expected = expected * int((labels[:, 1:] != -100).sum()) / num_items_in_batch
    out = lean(input_ids=ids, labels=labels, fused_lm_head=True, num_items_in_batch=num_items_in_batch)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    expected.backward()
    out.loss.backward()
    for (name, a), (_, b) in zip(reference.named_parameters(), lean.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_labelled_head_reports_trl_metrics_at_labelled_positions_only():
    ids, labels = batch()
    model = tiny_llama()
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, :-1]
    score_labelled_positions_only(model)
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
    mask = labels[:, 1:] != -100
    assert torch.equal(out.label_mask, mask)
    log_p = torch.log_softmax(logits, -1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    assert torch.allclose(out.entropy[mask], entropy[mask], atol=1e-5) and not out.entropy[~mask].any()
    assert torch.equal(out.is_top1[mask], logits.argmax(-1)[mask] == labels[:, 1:][mask])
    picked = log_p.gather(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(out.log_probs[mask], picked[mask], atol=1e-5) and not out.log_probs[~mask].any()


def test_plain_forward_and_generation_are_unchanged():
    ids, _ = batch()
    model = tiny_llama().eval()
    with torch.no_grad():
        before = model(input_ids=ids).logits
        generated = model.generate(input_ids=ids[:1], max_new_tokens=4, do_sample=False)
    score_labelled_positions_only(model)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, before)
        assert torch.equal(model.generate(input_ids=ids[:1], max_new_tokens=4, do_sample=False), generated)


@pytest.mark.parametrize(
    "text, native",
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_bf16 amx_tile\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n", False),  # AVX-512 without BF16
        ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", True),  # Arm with the BF16 extension
        ("processor\t: 0\nFeatures\t: fp asimd crc32\n", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, text, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert cpu_has_native_bf16(cpuinfo) is native


def test_no_cpuinfo_means_float32(tmp_path):
    assert cpu_has_native_bf16(tmp_path / "missing") is False


def test_auto_dtype_follows_the_cpu_and_named_dtypes_stay():
    assert resolve_dtype("auto", "cpu") == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert resolve_dtype("float32", "cpu") == "float32" and resolve_dtype("bfloat16", "cuda") == "bfloat16"
