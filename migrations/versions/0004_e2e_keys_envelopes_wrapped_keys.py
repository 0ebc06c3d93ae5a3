"""end-to-end encryption: public keys, file envelopes, wrapped keys, key requests

Additive: new tables only, so the previous code version runs on it too (docs/e2e.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:04:56.044726
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org_root_keys',
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_org_root_keys_created_by_users')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_org_root_keys_org_id_organisations')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_org_root_keys'))
    )
    op.create_table('user_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('signing_key', sa.LargeBinary(), nullable=False),
    sa.Column('encryption_key', sa.LargeBinary(), nullable=False),
    sa.Column('certificate', sa.LargeBinary(), nullable=True),
    sa.Column('may_certify', sa.Boolean(), nullable=False),
    sa.Column('certified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('certified_by', sa.String(length=32), nullable=True),
    sa.Column('revocation', sa.LargeBinary(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certified_by'], ['users.id'], name=op.f('fk_user_keys_certified_by_users')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_user_keys_org_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_keys_user_id_users')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_user_keys'))
    )
    with op.batch_alter_table('user_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_keys_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_keys_user_id'), ['user_id'], unique=False)

    op.create_table('file_envelopes',
    sa.Column('upload_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('header', sa.LargeBinary(), nullable=False),
    sa.Column('uploader_key_id', sa.String(length=32), nullable=False),
    sa.Column('plaintext_length', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_file_envelopes_upload_id_uploads')),
    sa.ForeignKeyConstraint(['uploader_key_id'], ['user_keys.key_id'], name=op.f('fk_file_envelopes_uploader_key_id_user_keys')),
    sa.PrimaryKeyConstraint('upload_id', name=op.f('pk_file_envelopes'))
    )
    op.create_table('key_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('upload_id', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['key_id'], ['user_keys.key_id'], name=op.f('fk_key_requests_key_id_user_keys')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_key_requests_upload_id_uploads')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_key_requests_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_requests')),
    sa.UniqueConstraint('upload_id', 'key_id', name=op.f('uq_key_requests_upload_id_key_id'))
    )
    with op.batch_alter_table('key_requests', schema=None) as batch_op:
        batch_op.create_index('ix_key_requests_pending', ['fulfilled_at', 'upload_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_requests_user_id'), ['user_id'], unique=False)

    op.create_table('wrapped_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('upload_id', sa.String(length=32), nullable=False),
    sa.Column('recipient_key_id', sa.String(length=32), nullable=False),
    sa.Column('recipient_user_id', sa.String(length=32), nullable=False),
    sa.Column('granter_key_id', sa.String(length=32), nullable=False),
    sa.Column('granted_by', sa.String(length=32), nullable=False),
    sa.Column('row', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['granted_by'], ['users.id'], name=op.f('fk_wrapped_keys_granted_by_users')),
    sa.ForeignKeyConstraint(['granter_key_id'], ['user_keys.key_id'], name=op.f('fk_wrapped_keys_granter_key_id_user_keys')),
    sa.ForeignKeyConstraint(['recipient_key_id'], ['user_keys.key_id'], name=op.f('fk_wrapped_keys_recipient_key_id_user_keys')),
    sa.ForeignKeyConstraint(['recipient_user_id'], ['users.id'], name=op.f('fk_wrapped_keys_recipient_user_id_users')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_wrapped_keys_upload_id_uploads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wrapped_keys')),
    sa.UniqueConstraint('upload_id', 'recipient_key_id', name=op.f('uq_wrapped_keys_upload_id_recipient_key_id'))
    )
    with op.batch_alter_table('wrapped_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wrapped_keys_recipient_user_id'), ['recipient_user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wrapped_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wrapped_keys_recipient_user_id'))

    op.drop_table('wrapped_keys')
    with op.batch_alter_table('key_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_requests_user_id'))
        batch_op.drop_index('ix_key_requests_pending')

    op.drop_table('key_requests')
    op.drop_table('file_envelopes')
    with op.batch_alter_table('user_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_keys_user_id'))
        batch_op.drop_index(batch_op.f('ix_user_keys_org_id'))

    op.drop_table('user_keys')
    op.drop_table('org_root_keys')
