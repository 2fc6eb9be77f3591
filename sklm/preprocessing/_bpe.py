"""Byte-level byte-pair encoding (BPE), learnt with Hugging Face ``tokenizers``.

Byte-level BPE maps every byte of the UTF-8 text to one printable character
before merging, so any text (any script, any whitespace) is covered by 256
base symbols and a token never holds a space: ``"Ġcat"`` is `` cat``. Joining
the bytes of the tokens back gives the text exactly.

``tokenizers`` is an optional dependency (``pip install "sklm[bpe]"``): the
Rust trainer learns the merges of a large corpus in seconds, which a Python
implementation cannot. Only learning and encoding need it; the learnt model is
kept as its JSON string (picklable, and what :func:`sklm.save` stores), and
decoding is a table lookup of our own.
"""

from functools import lru_cache


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            'Tokenizer(analyzer="bpe") needs the Hugging Face tokenizers package: '
            'pip install "sklm[bpe]" (or pip install tokenizers).'
        ) from None
    return tokenizers


@lru_cache(maxsize=1)
def _byte_of_symbol():
    """The inverse of the byte-level alphabet: printable character -> byte."""
    # The GPT-2 byte mapping: printable Latin-1 bytes stand for themselves,
    # the other bytes are shifted to code points from 256 on.
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    symbols, shift = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[chr(byte)] = byte
        else:
            symbols[chr(256 + shift)] = byte
            shift += 1
    return symbols


def learn_bpe(texts, vocab_size):
    """Learn byte-level BPE merges from ``texts`` (an iterable of str).

    Returns the learnt model as a JSON string.
    """
    tokenizers = _tokenizers()
    from tokenizers import decoders, models, pre_tokenizers, trainers

    model = tokenizers.Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    model.train_from_iterator(texts, trainer=trainer)
    return model.to_str()


@lru_cache(maxsize=8)
def _model(serialized):
    return _tokenizers().Tokenizer.from_str(serialized)


def encode_bpe(serialized, texts):
    """Token lists of ``texts`` under the learnt model ``serialized``."""
    if not texts:
        return []
    return [encoding.tokens for encoding in _model(serialized).encode_batch(list(texts))]


def decode_bpe(tokens):
    """The text of a byte-level token list.

    A token outside the byte alphabet (``"<unk>"`` from a model's output) is
    kept as it is; bytes that do not form valid UTF-8 (a generated sequence
    cut inside a character) become U+FFFD.
    """
    byte_of = _byte_of_symbol()
    out = bytearray()
    for token in tokens:
        if all(symbol in byte_of for symbol in token):
            out.extend(byte_of[symbol] for symbol in token)
        else:
            out.extend(token.encode("utf-8", "surrogatepass"))
    return out.decode("utf-8", errors="replace")
