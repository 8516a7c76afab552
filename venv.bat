@ECHO OFF
REM Opens a command prompt inside the project's venv (create it first with setup.bat).
REM PAUSE_AT_END as in run_vaegan.bat (auto: an error stays readable when double-clicked).

setlocal EnableExtensions
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
REM pushd (not cd /d): works on a network share too
pushd "%~dp0" || GOTO :finish
SET "LAUNCHER_PUSHED=1"
IF EXIST "venv\Scripts\activate.bat" GOTO :open_shell
ECHO No venv here yet: run setup.bat first. 1>&2
GOTO :finish
:open_shell
REM the shell is a console of its own: launchers started in it decide about pausing themselves
SET "WUBUGAAD_LAUNCHER_RUNNING="
cmd /k "venv\Scripts\activate.bat"
REM the user closed that shell: nothing left to read, so no pause
SET "EXIT_CODE=0"
SET "LAUNCHER_OUTER=0"
GOTO :finish

:finish
REM ---- every way out of this file comes here: pause if asked (outermost launcher only), return EXIT_CODE
IF "%LAUNCHER_OUTER%"=="1" CALL :pause_if_asked
IF "%LAUNCHER_PUSHED%"=="1" popd
endlocal & exit /b %EXIT_CODE%

:pause_if_asked
REM PAUSE_AT_END true: always wait for a key; false: never; auto (default): only when this file was
REM double-clicked in Explorer (cmd.exe /c with this file's path) and CI is not set, so that a console,
REM a calling script or CI is never blocked.
setlocal EnableDelayedExpansion
IF "!PAUSE_AT_END!"=="" SET "PAUSE_AT_END=auto"
SET "PAUSE_NOW=false"
IF /I "!PAUSE_AT_END!"=="true" SET "PAUSE_NOW=true"
SET "CMDLINE=!CMDCMDLINE!"
IF /I "!PAUSE_AT_END!"=="auto" IF NOT DEFINED CI IF /I NOT "!CMDLINE:/c =!"=="!CMDLINE!" IF /I NOT "!CMDLINE:%THIS_FILE%=!"=="!CMDLINE!" SET "PAUSE_NOW=true"
IF "!PAUSE_NOW!"=="true" PAUSE
endlocal
GOTO :EOF
