#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_group_members
short_description: Manage the members of the docker group (root-equivalent access)
description:
  - Ensures a group (by default C(docker)) exists and that the listed users are
    supplementary members of it.
  - By default users are added and nobody is removed (their other groups are
    never touched). With O(exclusive=true) members that are not listed are
    removed.
  - Membership of the C(docker) group gives full control of the Docker daemon,
    which runs as root, so it is root-equivalent on the host. The module warns
    whenever it adds someone.
  - Every listed user must already exist; a missing user fails the task and
    nothing is changed.
  - Changes go through C(groupadd) and C(gpasswd), which lock and rewrite
    C(/etc/group) and C(/etc/gshadow) atomically.
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  name:
    description: Name of the group.
    type: str
    default: docker
  users:
    description: Users who must be members of the group.
    type: list
    elements: str
    default: []
  exclusive:
    description:
      - When V(true), members not listed in O(users) are removed, so the
        group holds exactly O(users).
      - Users whose primary group is this group cannot be removed this way;
        they are reported in a warning.
    type: bool
    default: false
  absent_users:
    description:
      - Users who must not be members of the group; those who are, are removed
        (they need not exist). A user in both O(users) and here fails the task.
      - For users who may use Docker without being root on the host, and
        users whose access was revoked.
    type: list
    elements: str
    default: []
  system:
    description: Create the group as a system group when it does not exist.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing anything.
  diff_mode:
    support: full
    description: The member list before and after, one user per line.
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
notes:
  - "After members were added, run C(ansible.builtin.meta) C(reset_connection) so
    that later tasks (and the user's next login) see the new membership: the
    C(newgrp docker) step of a manual set-up."
"""

EXAMPLES = r"""
- name: Let the lab user work with Docker (root-equivalent)
  dockerlab.docker.docker_group_members:
    users:
      - student

- name: The docker group holds exactly these users
  dockerlab.docker.docker_group_members:
    name: docker
    users: "{{ docker_access_users }}"
    exclusive: true
  register: docker_group

- name: Let later tasks see the new membership
  ansible.builtin.meta: reset_connection
"""

RETURN = r"""
members_before:
  description: Members of the group before the task, sorted.
  returned: always
  type: list
  elements: str
  sample: [alice]
members:
  description: Members of the group after the task (what it would be, in check mode), sorted.
  returned: always
  type: list
  elements: str
  sample: [alice, student]
added:
  description: Users added to the group.
  returned: always
  type: list
  elements: str
  sample: [student]
removed:
  description: Users removed from the group (with O(exclusive=true), or listed in O(absent_users)).
  returned: always
  type: list
  elements: str
  sample: []
group_created:
  description: Whether the group was created.
  returned: always
  type: bool
  sample: false
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

ROOT_EQUIVALENT = (
    "Members of the '{group}' group control the Docker daemon, which runs as root: "
    "membership is root-equivalent on this host. Added: {users}."
)


def missing_users(users, lookup=pwd.getpwnam):
    """The listed users that do not exist, in the order given."""
    missing = []
    for user in users:
        try:
            lookup(user)
        except KeyError:
            missing.append(user)
    return missing


def plan(current, users, exclusive, absent=()):
    """Desired member list and the changes: (members, added, removed), sorted."""
    current = set(current)
    wanted = set(users)
    members = (wanted if exclusive else current | wanted) - set(absent)
    return sorted(members), sorted(members - current), sorted(current - members)


def primary_members(gid, getall=pwd.getpwall):
    """Users whose primary group is ``gid``: they are not listed in gr_mem."""
    return sorted(u.pw_name for u in getall() if u.pw_gid == gid)


class GroupMembers:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {
            "changed": False,
            "members_before": [],
            "members": [],
            "added": [],
            "removed": [],
            "group_created": False,
        }

    def run(self):
        name = self.params["name"]
        users = list(dict.fromkeys(self.params["users"]))
        both = sorted(set(users) & set(self.params["absent_users"]))
        if both:
            self.module.fail_json(
                msg=(
                    f"User(s) {', '.join(both)} are in both users and absent_users of group '{name}': "
                    "keep each in one list. Nothing was changed."
                ),
                **self.result,
            )
        missing = missing_users(users)
        if missing:
            self.module.fail_json(
                msg=(
                    f"Cannot add to group '{name}': user(s) {', '.join(missing)} do not exist on "
                    "this host. Create them first, or remove them from the list. Nothing was changed."
                ),
                missing_users=missing,
                **self.result,
            )
        try:
            group = grp.getgrnam(name)
            current = sorted(group.gr_mem)
            gid = group.gr_gid
        except KeyError:
            current, gid = [], None
            self.result["group_created"] = True
        members, added, removed = plan(current, users, self.params["exclusive"], self.params["absent_users"])
        self.result.update(members_before=current, members=members, added=added, removed=removed)
        changed = bool(self.result["group_created"] or added or removed)
        self.result["changed"] = changed
        if self.module._diff:
            self.result["diff"] = {
                "before_header": f"group {name} members",
                "after_header": f"group {name} members",
                "before": "".join(f"{u}\n" for u in current),
                "after": "".join(f"{u}\n" for u in members),
            }
        if added:
            self.module.warn(ROOT_EQUIVALENT.format(group=name, users=", ".join(added)))
        if (self.params["exclusive"] or self.params["absent_users"]) and gid is not None:
            unwanted = set(self.params["absent_users"]) | (
                set(primary_members(gid)) - set(users) if self.params["exclusive"] else set()
            )
            stuck = sorted(set(primary_members(gid)) & unwanted)
            if stuck:
                self.module.warn(
                    f"User(s) {', '.join(stuck)} have '{name}' as their primary group, so they "
                    "keep its rights though they were to leave it; change their primary group."
                )
        if not changed or self.module.check_mode:
            return self.result
        if self.result["group_created"]:
            self._run(
                ["groupadd", *(["--system"] if self.params["system"] else []), name], f"create group '{name}'"
            )
        if added or removed:
            self._run(
                ["gpasswd", "-M", ",".join(members), name],
                f"set the members of group '{name}' to [{', '.join(members)}]",
            )
        after = sorted(grp.getgrnam(name).gr_mem)
        if after != members:
            self.module.fail_json(
                msg=f"Group '{name}' has members {after} after the change, expected {members}.",
                **self.result,
            )
        return self.result

    def _run(self, argv, action):
        path = self.module.get_bin_path(argv[0], required=True)
        rc, out, err = self.module.run_command([path, *argv[1:]])
        if rc != 0:
            self.module.fail_json(
                msg=f"Failed to {action}: {argv[0]} exited {rc}: {(err or out).strip()}",
                **self.result,
            )


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": "docker"},
            "users": {"type": "list", "elements": "str", "default": []},
            "exclusive": {"type": "bool", "default": False},
            "absent_users": {"type": "list", "elements": "str", "default": []},
            "system": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    result = GroupMembers(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
