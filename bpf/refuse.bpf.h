/* TEMPORARY stub until the helper's version lands. */
#ifndef SLUICE_REFUSE_BPF_H
#define SLUICE_REFUSE_BPF_H
static __always_inline int refuse_with_rst(struct xdp_md *ctx, const struct sluice_packet *pkt)
{
	(void)ctx; (void)pkt;
	return -1;
}
#endif
