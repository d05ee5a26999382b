"""outbox fallback: the template to send when a free-form message meets a closed window

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('whatsapp_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('whatsapp_outbox', schema=None) as batch_op:
        batch_op.drop_column('fallback')
