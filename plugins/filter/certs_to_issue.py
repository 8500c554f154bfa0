# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: certs_to_issue
short_description: The users whose client bundle on the controller is not complete and current
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes a list of user names and the controller's PKI directory, and
    returns the users, in their order, whose bundle in
    C(PKI_DIR/users/USER/) must be issued again.
  - That is when the PKI's certificate check of its cert.pem, for the CA
    C(PKI_DIR/ca.pem) and its key.pem, is not C(ok) (missing, unreadable,
    not from the CA, not for the key, with subjectAltNames, or expiring
    within O(renew_days)), or when its ca.pem is not a copy of the CA.
  - It runs on the controller and only reads.
positional: pki_dir, renew_days
options:
  _input:
    description: The user names.
    type: list
    elements: str
    required: true
  pki_dir:
    description: The PKI directory on the controller (C(docker_access_pki_dir)).
    type: path
    required: true
  renew_days:
    description: Issue again when a certificate expires within this many days.
    type: int
    required: false
    default: 30
"""

EXAMPLES = r"""
# roles/docker_access/vars/main.yml: every bundle user's client certificate
# to issue (access.yml, once for the play).
_docker_access_clients_to_issue: >-
  {{ _docker_access_bundle_users_all
     | dockerlab.docker.certs_to_issue(docker_access_pki_dir, docker_access_cert_renew_days) }}
"""

RETURN = r"""
_value:
  description: The users whose client bundle must be issued, in the order given.
  type: list
  elements: str
"""

from ansible_collections.dockerlab.docker.plugins.plugin_utils._pki import certs_to_issue


class FilterModule:
    def filters(self):
        return {"certs_to_issue": certs_to_issue}
