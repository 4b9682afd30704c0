"""Flask-WTF forms (CSRF on every form)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class GeneralLoginForm(FlaskForm):
    """일반회원 tab: ID + password (+ remember ID)."""

    login_id = StringField(_l("아이디"), validators=[DataRequired(), Length(max=40)])
    password = PasswordField(_l("비밀번호"), validators=[DataRequired(), Length(max=128)])
    remember_id = BooleanField(_l("아이디 저장"))


class ConsentForm(FlaskForm):
    pass


class LogoutConfirmForm(FlaskForm):
    pass
