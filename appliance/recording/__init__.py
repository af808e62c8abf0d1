# SPDX-License-Identifier: GPL-3.0-or-later
"""Call recordings encrypted to the owner's public key (age, X25519): the appliance cannot read them back.

`crypto` encrypts, decrypts and makes key pairs; `recorder` is the daemon that turns each finished
plaintext file in the RAM staging directory into an encrypted file in the data directory; `cli`
adds `appliance recording ...`. See docs/recording.md.
"""
