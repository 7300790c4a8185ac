"""transformers text models from small configs: encoders, decoders and encoder-decoders.

Called as their users call them: `model(input_ids)`, and separately `model(input_ids=..., attention_mask=...)`
with the second row padded. Caches are off (`use_cache=False`): a served forward pass returns tensors.
"""

from __future__ import annotations

import numpy as np

SEED = 0
VOCABULARY = 100
LENGTH = 12
SMALL = {"vocab_size": VOCABULARY, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}


def _tokens(length: int = LENGTH) -> np.ndarray:
    return np.random.default_rng(SEED).integers(1, VOCABULARY, (2, length)).astype(np.int64)


def _mask(length: int = LENGTH) -> np.ndarray:
    mask = np.ones((2, length), np.int64)
    mask[1, length - 4 :] = 0  # the second sequence is padded
    return mask


def _model(class_name: str, config_name: str, **config):
    import torch
    import transformers

    torch.manual_seed(SEED)
    return getattr(transformers, class_name)(getattr(transformers, config_name)(**config)).eval()


def _ids_only(model):
    return model, (_tokens(),)


def _with_mask(model):
    return model, {"input_ids": _tokens(), "attention_mask": _mask()}


def _bert():
    return _model("BertModel", "BertConfig", intermediate_size=64, max_position_embeddings=64, **SMALL)


def _roberta():
    return _model(
        "RobertaModel",
        "RobertaConfig",
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
        **SMALL,
    )


def _albert():
    return _model("AlbertModel", "AlbertConfig", embedding_size=16, intermediate_size=64, **SMALL)


def _deberta_v2():
    return _model(
        "DebertaV2Model",
        "DebertaV2Config",
        intermediate_size=64,
        max_position_embeddings=64,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        **SMALL,
    )


def _electra():
    return _model("ElectraModel", "ElectraConfig", embedding_size=16, intermediate_size=64, **SMALL)


def _distilbert():
    return _model(
        "DistilBertModel",
        "DistilBertConfig",
        vocab_size=VOCABULARY,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
    )


def _gpt2():
    return _model(
        "GPT2Model",
        "GPT2Config",
        vocab_size=VOCABULARY,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=64,
        use_cache=False,
        bos_token_id=0,
        eos_token_id=0,
    )


_DECODER = {**SMALL, "intermediate_size": 64, "max_position_embeddings": 64, "use_cache": False}


def _llama():
    return _model("LlamaModel", "LlamaConfig", num_key_value_heads=2, **_DECODER)


def _mistral():
    return _model("MistralModel", "MistralConfig", num_key_value_heads=2, sliding_window=None, **_DECODER)


def _phi():
    return _model("PhiModel", "PhiConfig", **_DECODER)


def _gemma():
    return _model("GemmaModel", "GemmaConfig", num_key_value_heads=2, head_dim=8, **_DECODER)


def bert():
    return _ids_only(_bert())


def bert_with_mask():
    return _with_mask(_bert())


def roberta():
    return _ids_only(_roberta())


def roberta_with_mask():
    return _with_mask(_roberta())


def albert():
    return _ids_only(_albert())


def albert_with_mask():
    return _with_mask(_albert())


def deberta_v2():
    return _ids_only(_deberta_v2())


def deberta_v2_with_mask():
    return _with_mask(_deberta_v2())


def electra():
    return _ids_only(_electra())


def electra_with_mask():
    return _with_mask(_electra())


def distilbert():
    return _ids_only(_distilbert())


def distilbert_with_mask():
    return _with_mask(_distilbert())


def gpt2():
    return _ids_only(_gpt2())


def gpt2_with_mask():
    return _with_mask(_gpt2())


def llama():
    return _ids_only(_llama())


def llama_with_mask():
    return _with_mask(_llama())


def mistral():
    return _ids_only(_mistral())


def mistral_with_mask():
    return _with_mask(_mistral())


def phi():
    return _ids_only(_phi())


def phi_with_mask():
    return _with_mask(_phi())


def gemma():
    return _ids_only(_gemma())


def gemma_with_mask():
    return _with_mask(_gemma())


def t5():
    model = _model(
        "T5Model",
        "T5Config",
        vocab_size=VOCABULARY,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        use_cache=False,
        decoder_start_token_id=0,
    )
    return model, {"input_ids": _tokens(), "decoder_input_ids": _tokens(6)}


def bart():
    model = _model(
        "BartModel",
        "BartConfig",
        vocab_size=VOCABULARY,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        use_cache=False,
    )
    return model, {"input_ids": _tokens(), "decoder_input_ids": _tokens(6)}
