"""Cross-frame attention: self-attention of a frame also looks at the anchor and the previous frame.

Every frame records each chosen UNet self-attention layer's input features per timestep; a frame
tied to the past (a reused frame, or an anchored keyframe) computes that layer's keys and values
from ``[own features, anchor features, previous frame's features]``, so textures and colours are
copied instead of re-invented (Text2Video-Zero / Rerender-A-Video's sparse-causal attention).
A keyframe's features become the anchor of the frames after it; a scene cut clears both. The
stored frames' keys and values are projected once per timestep and kept by each layer's
processor: the anchor serves every frame up to the next keyframe, and the previous frame every
box of this one, so a frame rendered in boxes does not project them again for each box. A box
(``boxes``) attends to the part of each stored frame around it only (``window``): a frame
rendered in boxes records only its boxes' tokens, and where they lie. Boxes of one frame may
be denoised as one batch, a row per box; each row gets its own windows (padded, masked), so a
box attends as it would alone. Memory is bounded by ``7 x (steps per frame) x (layers) x
(tokens)`` (features of three frames, keys and values of two) and does not grow with the clip.
``blocks`` picks the UNet blocks that do it (``"all"`` or a comma list of down, mid, up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from vidx.options import ATTENTION_BLOCKS as BLOCKS

_PREFIX = {"down": "down_blocks", "mid": "mid_block", "up": "up_blocks"}

Store = dict[tuple[str, int], torch.Tensor]
Box = tuple[int, int, int, int]  # (y0, y1, x0, x1) in latent cells, end exclusive


@dataclass
class CrossFrameState:
    """What the processors share: ``step`` the current timestep key (None: do nothing),
    ``use`` whether this frame attends to ``anchor`` and ``prev``; ``current`` is what this
    frame records. A frame rendered in boxes records only its boxes' tokens, so each store
    keeps where its tokens lie (``*_at``: grid indices at the layer's scale, -1 unknown;
    absent: the whole grid in order)."""

    step: int | None = None
    use: bool = False
    more: bool = False  # this frame is rendered in parts (boxes): a later part adds its own
    # the boxes being rendered, one per batch row of each guidance half (none: the whole frame),
    # and the frame's latent size, in latent cells: a box attends to the stored frames around
    # it only (``window``)
    boxes: tuple[Box, ...] = ()
    cells: tuple[int, int] | None = None
    anchor: Store = field(default_factory=dict)
    prev: Store = field(default_factory=dict)
    current: Store = field(default_factory=dict)
    anchor_at: Store = field(default_factory=dict)
    prev_at: Store = field(default_factory=dict)
    current_at: Store = field(default_factory=dict)

    def clear(self) -> None:
        self.anchor, self.prev, self.current = {}, {}, {}
        self.anchor_at, self.prev_at, self.current_at = {}, {}, {}
        self.use, self.step, self.more, self.boxes = False, None, False, ()

    def end_frame(self, keyframe: bool) -> None:
        """The frame just rendered becomes the previous one (and the anchor on a keyframe)."""
        self.prev, self.prev_at = self.current, self.current_at
        if keyframe:
            self.anchor, self.anchor_at = self.current, self.current_at
        self.current, self.current_at = {}, {}
        self.step, self.more, self.boxes = None, False, ()

    @property
    def batch(self) -> int:
        """Rows of each guidance half: one per box denoised together, else 1."""
        return max(1, len(self.boxes))

    def extras(
        self, key: tuple[str, int], like: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """The stored frames' features (``(halves, tokens, C)``) that fit ``like``, a batch of
        ``self.batch`` rows per half, each with where its tokens lie."""
        out: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        stores = [(self.anchor, self.anchor_at)]
        if self.prev is not self.anchor:
            stores.append((self.prev, self.prev_at))
        for store, at in stores:
            t = store.get(key)
            fits = t is not None and t.shape[0] * self.batch == like.shape[0]
            if t is not None and fits and t.shape[2] == like.shape[2]:
                out.append((t.to(like.dtype), at.get(key)))
        return out

    def grid(self, scale: int) -> tuple[int, int]:
        """The frame's token grid at a layer of ``scale`` (each UNet level halves, rounding up)."""
        if self.cells is None:
            raise ValueError("the frame's latent size (cells) is not set")
        return -(-self.cells[0] // scale), -(-self.cells[1] // scale)

    def window(self, box: Box, scale: int) -> torch.Tensor:
        """The grid indices at ``scale`` within ``box`` grown by its own size on every side:
        what a box can copy from lies around it (its subject since the keyframe, where it was
        a frame ago, its background), and a box that attended to whole frames paid for every
        token of them and averaged in features from everywhere."""
        (h, w), (y0, y1, x0, x1) = self.cells or (0, 0), box
        gw = self.grid(scale)[1]
        dy, dx = y1 - y0, x1 - x0
        ys = torch.arange(max(0, y0 - dy) // scale, -(-min(h, y1 + dy) // scale))
        xs = torch.arange(max(0, x0 - dx) // scale, -(-min(w, x1 + dx) // scale))
        return (ys[:, None] * gw + xs[None, :]).flatten()

    def places(self, scale: int, tokens: int) -> torch.Tensor:
        """Where the tokens of the boxes rendered now lie (``tokens`` a row, box-major as
        ``_per_half`` records them), -1 for a box whose token count is not its grid's."""
        gh, gw = self.grid(scale)
        out = []
        for y0, y1, x0, x1 in self.boxes:
            ys = torch.arange(y0 // scale, y0 // scale + -(-(y1 - y0) // scale)).clamp(max=gh - 1)
            xs = torch.arange(x0 // scale, x0 // scale + -(-(x1 - x0) // scale)).clamp(max=gw - 1)
            at = (ys[:, None] * gw + xs[None, :]).flatten()
            out.append(at if len(at) == tokens else torch.full((tokens,), -1))
        return torch.cat(out)

    def pick(self, at: torch.Tensor | None, tokens: int, box: Box, scale: int) -> torch.Tensor:
        """Which of a stored frame's ``tokens`` (lying at ``at``) ``box`` attends to: those in
        its ``window``; all of a stored frame whose tokens are not a grid of this frame."""
        near = self.window(box, scale)
        if at is None:
            gh, gw = self.grid(scale)
            return near if gh * gw == tokens else torch.arange(tokens)
        return torch.nonzero((at == -1) | torch.isin(at, near)).flatten()

    def nbytes(self) -> int:
        seen: dict[int, torch.Tensor] = {}
        for store in (self.anchor, self.prev, self.current):
            for t in store.values():
                seen[id(t)] = t
        return sum(t.numel() * t.element_size() for t in seen.values())

    @property
    def store(self) -> Store:
        """The anchor's features (kept for callers of the 0.1 name)."""
        return self.anchor


class CrossFrameAttnProcessor:
    """``AttnProcessor2_0`` for self-attention layers, extended with the anchor's and the
    previous frame's features."""

    def __init__(self, name: str, state: CrossFrameState, scale: int = 1) -> None:
        self.name = name
        self.state = state
        self.scale = scale  # of the layer's token grid: latent cells a token a side
        # the keys and values of stored features, per timestep: the anchor's serve every frame
        # up to the next keyframe and the previous frame's every box of this one, so each is
        # projected once (an entry is used only while its features are the very tensor stored)
        self._projected: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _keys_values(
        self, attn, step: int, slot: int, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hit = self._projected.get((step, slot))
        if hit is not None and hit[0] is features:
            return hit[1], hit[2]
        k, v = attn.to_k(features), attn.to_v(features)
        self._projected[step, slot] = (features, k, v)
        return k, v

    def _record(self, key: tuple[str, int], hidden_states: torch.Tensor) -> None:
        """Keep this call's features for the frames after it (and, for boxes, where they lie:
        only the boxes are recorded)."""
        st = self.state
        seen = st.current.get(key) if st.more else None
        mine = _per_half(hidden_states.detach(), st.batch)
        st.current[key] = mine if seen is None else torch.cat([seen, mine], dim=1)
        if st.boxes:
            at = st.places(self.scale, hidden_states.shape[1])
            seen_at = st.current_at.get(key) if seen is not None else None
            if seen is not None and seen_at is None:
                seen_at = torch.full((seen.shape[1],), -1)
            st.current_at[key] = at if seen_at is None else torch.cat([seen_at, at])

    def _with_stored(
        self,
        attn,
        step: int,
        extra: list[tuple[torch.Tensor, torch.Tensor | None]],
        key_t: torch.Tensor,
        value: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``key_t``/``value`` with the stored frames' keys and values (projected once) after
        them, each box its windows of them; and which keys each row may see (None: all)."""
        st = self.state
        ks, vs, masks = [key_t], [value], [torch.ones_like(key_t[:, :, 0], dtype=torch.bool)]
        for i, (features, where) in enumerate(extra):
            k, v = self._keys_values(attn, step, i, features)
            if st.boxes:
                picks = [st.pick(where, k.shape[1], b, self.scale) for b in st.boxes]
                k, v, seen = _gather_windows(k, v, picks)
            else:
                seen = torch.ones_like(k[:, :, 0], dtype=torch.bool)
            ks.append(k)
            vs.append(v)
            masks.append(seen)
        mask = torch.cat(masks, dim=1)
        return torch.cat(ks, dim=1), torch.cat(vs, dim=1), None if bool(mask.all()) else mask

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        batch, _, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        st = self.state
        extra: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        if encoder_hidden_states is None and st.step is not None:
            key = (self.name, st.step)
            if st.use:
                extra = st.extras(key, hidden_states)
            self._record(key, hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)

        query = attn.to_q(hidden_states)
        key_t, value = attn.to_k(context), attn.to_v(context)
        seen_mask = None  # which keys each row may attend to (boxes' windows differ)
        if extra and st.step is not None:
            key_t, value, seen_mask = self._with_stored(attn, st.step, extra, key_t, value)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, key_t.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if seen_mask is not None:  # a key a row may not see: -inf before the softmax
            hide = torch.zeros(seen_mask.shape, dtype=query.dtype, device=query.device)
            hide = hide.masked_fill(~seen_mask, float("-inf"))[:, None, None, :]
            attention_mask = hide if attention_mask is None else attention_mask + hide
        head_dim = key_t.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key_t = key_t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key_t = attn.norm_k(key_t)
        out = F.scaled_dot_product_attention(query, key_t, value, attn_mask=attention_mask)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _per_half(features: torch.Tensor, batch: int) -> torch.Tensor:
    """``(halves * batch, n, C)`` rows of one call (``batch`` boxes per guidance half) ->
    ``(halves, batch * n, C)``: the frame's tokens per half, as a whole frame records them."""
    rows, n, c = features.shape
    return features.reshape(rows // batch, batch * n, c)


def _gather_windows(
    k: torch.Tensor, v: torch.Tensor, windows: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The stored keys and values ``(halves, N, C)`` cut to each box's window, one row per
    box and half in the batch's order (half-major), padded to the longest window; and which of
    each row's keys are real ``(halves * boxes, L)`` bool."""
    longest = max(len(w) for w in windows)
    index = torch.zeros(len(windows), longest, dtype=torch.long)
    real = torch.zeros(len(windows), longest, dtype=torch.bool)
    for b, w in enumerate(windows):
        index[b, : len(w)], real[b, : len(w)] = w, True
    index, real = index.to(k.device), real.to(k.device)
    halves = k.shape[0]
    k, v = k[:, index].flatten(0, 1), v[:, index].flatten(0, 1)  # (halves * boxes, L, C)
    return k, v, real.repeat(halves, 1)


def _scale(unet, name: str) -> int:
    """Latent cells a token of layer ``name`` spans: each down block but the last halves the
    grid after its layers, each up block but the last doubles it after its layers."""
    levels = len(unet.config.down_block_types)
    parts = name.split(".")
    if parts[0] == "down_blocks":
        return 2 ** int(parts[1])
    if parts[0] == "up_blocks":
        return 2 ** (levels - 1 - int(parts[1]))
    return 2 ** (levels - 1)  # the mid block


def install_cross_frame(unet, blocks: tuple[str, ...] = BLOCKS) -> CrossFrameState:
    """Put a ``CrossFrameAttnProcessor`` on every self-attention (``attn1``) layer of ``unet``
    in ``blocks``; other layers keep their processors. Returns the shared state."""
    state = CrossFrameState()
    prefixes = tuple(_PREFIX[b] for b in blocks)
    procs = {}
    for name, proc in unet.attn_processors.items():
        chosen = "attn1" in name and name.startswith(prefixes)
        procs[name] = CrossFrameAttnProcessor(name, state, _scale(unet, name)) if chosen else proc
    unet.set_attn_processor(procs)
    return state
