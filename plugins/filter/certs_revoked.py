# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: certs_revoked
short_description: The users whose client certificate is still valid but who are no longer allowed
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the users who are allowed on a host and the controller's PKI
    directory, and returns, sorted, every other user with a client
    certificate in C(PKI_DIR/users/USER/cert.pem) that the CA
    C(PKI_DIR/ca.pem) signed and that has not expired.
  - dockerd has no revocation list; these certificates still open its TLS
    listener, and the authorization policy of the role docker_access refuses
    them.
  - It runs on the controller and only reads.
positional: pki_dir
options:
  _input:
    description: The users who are allowed (their certificates are not revoked).
    type: list
    elements: str
    required: true
  pki_dir:
    description: The PKI directory on the controller (C(docker_access_pki_dir)).
    type: path
    required: true
"""

EXAMPLES = r"""
_docker_access_revoked: >-
  {{ _docker_access_bundle_users | dockerlab.docker.certs_revoked(docker_access_pki_dir) }}
"""

RETURN = r"""
_value:
  description: The users whose certificates the policy must refuse, sorted.
  type: list
  elements: str
"""

from ansible_collections.dockerlab.docker.plugins.plugin_utils import _pki


def certs_revoked(allowed, pki_dir):
    return _pki.certs_revoked(allowed, pki_dir)


class FilterModule:
    def filters(self):
        return {"certs_revoked": certs_revoked}
