@ECHO OFF
REM Opens a command prompt inside the project's venv (create it first with setup.bat).
cd /d "%~dp0"
IF NOT EXIST "venv\Scripts\activate.bat" (
    ECHO No venv here yet: run setup.bat first.
    PAUSE
    exit /b 1
)
cmd /k venv\Scripts\activate.bat
