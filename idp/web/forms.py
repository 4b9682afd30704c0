"""Flask-WTF forms (CSRF on every form)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

# No control characters in what a person types (PostgreSQL text cannot even store NUL).
PRINTABLE = Regexp(r"^[^\x00-\x1f\x7f]*$")


class GeneralLoginForm(FlaskForm):
    """일반회원 tab: ID + password (+ remember ID)."""

    login_id = StringField(_l("아이디"), validators=[DataRequired(), Length(max=40), PRINTABLE])
    password = PasswordField(_l("비밀번호"),
                             validators=[DataRequired(), Length(max=128), PRINTABLE])
    remember_id = BooleanField(_l("아이디 저장"))


class ConsentForm(FlaskForm):
    pass


class PasswordChangeForm(FlaskForm):
    """A new password an operator required (the policy itself is checked by the service)."""

    new_password = PasswordField(_l("새 비밀번호"),
                                 validators=[DataRequired(), Length(max=128), PRINTABLE])
    confirm = PasswordField(_l("새 비밀번호 확인"),
                            validators=[DataRequired(), EqualTo("new_password")])
