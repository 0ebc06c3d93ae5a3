"""cases, bundles, groups, request links and relation tuples

Additive: new tables and nullable columns, so the previous code version runs on it too.
Organisation roles become relation tuples (organisation#member|admin|auditor) for the
users that exist already; from now on the services write them with each user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:08:02.214828
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import secrets
from datetime import UTC, datetime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authz_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authz_version'))
    )
    op.create_table('cases',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('require_encryption', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_cases_created_by_users')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_cases_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('org_id', 'reference', name=op.f('uq_cases_org_id_reference'))
    )
    op.create_table('groups',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_groups_created_by_users')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_groups_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_groups_org_id_name'))
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_groups_org_id'), ['org_id'], unique=False)

    op.create_table('relation_tuples',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=128), nullable=False),
    sa.Column('relation', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=False),
    sa.Column('subject_relation', sa.String(length=64), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=32), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_relation_tuples_created_by_users')),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_relation_tuples_revoked_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relation_tuples'))
    )
    with op.batch_alter_table('relation_tuples', schema=None) as batch_op:
        batch_op.create_index('ix_relation_tuples_object', ['object_type', 'object_id', 'relation'], unique=False)
        batch_op.create_index('ix_relation_tuples_subject', ['subject_type', 'subject_id', 'subject_relation'], unique=False)
        batch_op.create_index(batch_op.f('ix_relation_tuples_version'), ['version'], unique=False)

    op.create_table('bundles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_bundles_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_bundles_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bundles')),
    sa.UniqueConstraint('case_id', 'name', name=op.f('uq_bundles_case_id_name'))
    )
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bundles_case_id'), ['case_id'], unique=False)

    op.create_table('group_members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('member_group_id', sa.String(length=32), nullable=True),
    sa.Column('added_by', sa.String(length=32), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(user_id IS NULL) <> (member_group_id IS NULL)', name=op.f('ck_group_members_one_member')),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_group_members_added_by_users')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_members_group_id_groups')),
    sa.ForeignKeyConstraint(['member_group_id'], ['groups.id'], name=op.f('fk_group_members_member_group_id_groups')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_group_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_members')),
    sa.UniqueConstraint('group_id', 'member_group_id', name=op.f('uq_group_members_group_id_member_group_id')),
    sa.UniqueConstraint('group_id', 'user_id', name=op.f('uq_group_members_group_id_user_id'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_group_id'), ['group_id'], unique=False)

    op.create_table('request_links',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('max_files', sa.Integer(), nullable=False),
    sa.Column('max_bytes', sa.BigInteger(), nullable=False),
    sa.Column('files_used', sa.Integer(), nullable=False),
    sa.Column('bytes_used', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_request_links_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_request_links_created_by_users')),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_request_links_revoked_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_request_links_token_hash'))
    )
    with op.batch_alter_table('request_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_links_case_id'), ['case_id'], unique=False)

    op.create_table('bundle_files',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('bundle_id', sa.String(length=32), nullable=False),
    sa.Column('file_id', sa.String(length=32), nullable=False),
    sa.Column('added_by', sa.String(length=32), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_bundle_files_added_by_users')),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundles.id'], name=op.f('fk_bundle_files_bundle_id_bundles')),
    sa.ForeignKeyConstraint(['file_id'], ['files.id'], name=op.f('fk_bundle_files_file_id_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bundle_files')),
    sa.UniqueConstraint('bundle_id', 'file_id', name=op.f('uq_bundle_files_bundle_id_file_id'))
    )
    with op.batch_alter_table('bundle_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bundle_files_file_id'), ['file_id'], unique=False)

    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('exhibit_ref', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_files_case_id'), ['case_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_files_case_id_cases'), 'cases', ['case_id'], ['id'])

    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('link_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_uploads_link_id_request_links'), 'request_links', ['link_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_uploads_case_id_cases'), 'cases', ['case_id'], ['id'])

    _seed_tuples()


# Table shapes for the data steps, written out here: migrations never import model classes.
_users = sa.table('users', sa.column('id', sa.String), sa.column('org_id', sa.String), sa.column('role', sa.String))
_version = sa.table('authz_version', sa.column('id', sa.Integer), sa.column('value', sa.BigInteger))
_tuples = sa.table(
    'relation_tuples',
    *(sa.column(name, sa.String) for name in ('id', 'object_type', 'object_id', 'relation', 'subject_type', 'subject_id')),
    sa.column('created_at', sa.DateTime(timezone=True)),
    sa.column('version', sa.BigInteger),
)
ROLE_RELATION = {'member': 'member', 'admin': 'admin', 'auditor': 'auditor'}


def _seed_tuples() -> None:
    bind = op.get_bind()
    users = bind.execute(sa.select(_users.c.id, _users.c.org_id, _users.c.role)).all()
    version = 1 if users else 0
    op.bulk_insert(_version, [{'id': 1, 'value': version}])
    now = datetime.now(UTC)
    if bind.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)  # as filehub's UTCDateTime stores it there
    rows = [
        {
            'id': secrets.token_hex(16), 'object_type': 'organisation', 'object_id': org_id,
            'relation': ROLE_RELATION[role], 'subject_type': 'user', 'subject_id': user_id,
            'created_at': now, 'version': version,
        }
        for user_id, org_id, role in users
        if role in ROLE_RELATION
    ]
    if rows:
        op.bulk_insert(_tuples, rows)


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_uploads_case_id_cases'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_uploads_link_id_request_links'), type_='foreignkey')
        batch_op.drop_column('link_id')
        batch_op.drop_column('case_id')

    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_files_case_id_cases'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_files_case_id'))
        batch_op.drop_column('exhibit_ref')
        batch_op.drop_column('case_id')

    with op.batch_alter_table('bundle_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bundle_files_file_id'))

    op.drop_table('bundle_files')
    with op.batch_alter_table('request_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_links_case_id'))

    op.drop_table('request_links')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_group_id'))

    op.drop_table('group_members')
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bundles_case_id'))

    op.drop_table('bundles')
    with op.batch_alter_table('relation_tuples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relation_tuples_version'))
        batch_op.drop_index('ix_relation_tuples_subject')
        batch_op.drop_index('ix_relation_tuples_object')

    op.drop_table('relation_tuples')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_groups_org_id'))

    op.drop_table('groups')
    op.drop_table('cases')
    op.drop_table('authz_version')
