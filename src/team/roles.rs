//! Roles and capabilities: what a teammate may do in a club.
//!
//! A capability is a type ([`Capability`]); the web layer's extractor hands a handler a
//! `ClubAccess<ManageTeam>` only after checking the role, so a handler cannot forget the check.

/// A person's role in a club. Ordered: an owner can do all a treasurer can, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Treasurer,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Treasurer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Treasurer => "treasurer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "treasurer" => Some(Role::Treasurer),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Translation key of the role's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Owner => "role.owner",
            Role::Treasurer => "role.treasurer",
            Role::Viewer => "role.viewer",
        }
    }
}

/// Something a teammate may be allowed to do; the minimum role is the whole rule.
pub trait Capability: Send + Sync + 'static {
    const MIN_ROLE: Role;
}

/// See the club's data.
pub struct ViewClub;
/// Work with the money: bank connection, matching, members.
pub struct ManageMoney;
/// Invite and remove people, change roles.
pub struct ManageTeam;

impl Capability for ViewClub {
    const MIN_ROLE: Role = Role::Viewer;
}
impl Capability for ManageMoney {
    const MIN_ROLE: Role = Role::Treasurer;
}
impl Capability for ManageTeam {
    const MIN_ROLE: Role = Role::Owner;
}
