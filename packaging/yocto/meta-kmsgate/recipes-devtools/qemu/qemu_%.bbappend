# kmsgate's patches to QEMU's vhost-user-gpu front-end (qemu-patches/ at the
# top of the kmsgate tree this layer sits in; qemu-patches/README.md says
# what each does). They were written and tested against QEMU 10.0.2, and
# only touch hw/display/vhost-user-gpu.c.
#
# The guard: the patches are added only when the QEMU recipe is 10.0.x
# (whinlatter has 10.0.6). Any other QEMU is left as it is, with a warning
# at parse time, rather than failing every build that has this layer: the
# guests then run unpaced and miss hotplug (qemu-patches/README.md).
# New patches for another QEMU go in qemu-patches/<version>/ and here.
FILESEXTRAPATHS:prepend := "${THISDIR}/../../../../../qemu-patches/10.0.2:"

KMSGATE_QEMU_PATCHES = " \
    file://0001-vhost-user-gpu-offer-VIRTIO_GPU_F_RESOURCE_BLOB-when.patch \
    file://0002-vhost-user-gpu-tell-the-guest-when-the-back-end-s-di.patch \
"

python () {
    pv = d.getVar('PV')
    if pv.startswith('10.0.'):
        d.appendVar('SRC_URI', d.getVar('KMSGATE_QEMU_PATCHES'))
    else:
        bb.warn("meta-kmsgate: kmsgate's QEMU patches are for QEMU 10.0.x; "
                "%s %s is built without them" % (d.getVar('PN'), pv))
}
