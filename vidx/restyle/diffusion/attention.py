"""Cross-frame attention: self-attention of a frame also looks at the last keyframe.

On a keyframe each UNet self-attention layer stores its input features per timestep; on later
frames the layer's keys and values are computed from ``[own features, keyframe features]``, so
textures and colours are copied from the keyframe instead of re-invented (Text2Video-Zero /
Rerender-A-Video style). Only the timesteps that non-keyframes will visit are kept, so memory is
bounded by ``(reuse steps) x (self-attention layers) x (tokens)`` and does not grow with the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class CrossFrameState:
    """What the processors share: ``mode`` is ``off``, ``store`` or ``use``; ``step`` the
    current timestep key; ``keep`` the timestep keys worth storing."""

    mode: str = "off"
    step: int | None = None
    keep: set[int] = field(default_factory=set)
    store: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)

    def clear(self) -> None:
        self.store.clear()

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.store.values())


class CrossFrameAttnProcessor:
    """``AttnProcessor2_0`` for self-attention layers, extended with the keyframe's features."""

    def __init__(self, name: str, state: CrossFrameState) -> None:
        self.name = name
        self.state = state

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
        if encoder_hidden_states is None and st.step is not None:
            key = (self.name, st.step)
            if st.mode == "store" and st.step in st.keep:
                st.store[key] = hidden_states.detach()
            elif st.mode == "use":
                extra = st.store.get(key)
                if (
                    extra is not None
                    and extra.shape[0] == batch
                    and extra.shape[2] == context.shape[2]
                ):
                    context = torch.cat([hidden_states, extra.to(hidden_states.dtype)], dim=1)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)

        query = attn.to_q(hidden_states)
        key_t = attn.to_k(context)
        value = attn.to_v(context)
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


def install_cross_frame(unet) -> CrossFrameState:
    """Put a ``CrossFrameAttnProcessor`` on every self-attention (``attn1``) layer of ``unet``;
    other layers keep their processors. Returns the shared state (mode ``off``)."""
    state = CrossFrameState()
    procs = {}
    for name, proc in unet.attn_processors.items():
        procs[name] = CrossFrameAttnProcessor(name, state) if "attn1" in name else proc
    unet.set_attn_processor(procs)
    return state
