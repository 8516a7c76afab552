@ECHO OFF
REM Shared body of the phase launchers (draftPY\phase*.bat; Linux twin: run_phase.sh).
REM
REM     CALL run_phase.bat PHASE_FILE PHASE [PREVIOUS_PHASE PREVIOUS_LAUNCHER]
REM
REM Called by a phase launcher (PHASE_FILE, e.g. phase2a_kl_1e-3.bat) after it SET its settings. The run
REM folder RUN_DIR is defined here and only here: default runs\wubugaad_run at the project root; a
REM relative RUN_DIR is relative to the project root. It holds one checkpoint sub-folder per phase
REM (RUN_DIR\PHASE, the phase's CHECKPOINT_OUTPUT_DIR unless the phase file sets one). Unless the phase
REM file sets LOAD_CHECKPOINT, the phase starts from the previous phase's best checkpoint (its last one
REM when no best was written); when the previous phase has no checkpoint at all it stops with exit code 3
REM and names the launcher to run first. Then run_vaegan.bat runs; its exit code is ours. Because
REM LOAD_CHECKPOINT and CHECKPOINT_OUTPUT_DIR are set before run_vaegan.bat reads its SET lines, those two
REM lines of run_vaegan.bat have no effect on a phase: set them in the phase file.

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
SET "PHASE_FILE=%~1"
SET "PHASE=%~2"
SET "PREVIOUS_PHASE=%~3"
SET "PREVIOUS_LAUNCHER=%~4"
SET "HERE=%~dp0"
REM checkpoint names: wubugaad.train.checkpoint.checkpoint_name("best") / ("last")
SET "BEST_NAME=wubugaad_hybridgen_ckpt_v01_best.pt"
SET "LAST_NAME=wubugaad_hybridgen_ckpt_v01_last.pt"
IF "!PHASE!"=="" GOTO :usage
REM relative paths resolve from the project root, whichever folder this was started from
pushd "%~dp0.." || GOTO :finish
SET "LAUNCHER_PUSHED=1"

IF NOT DEFINED RUN_DIR SET "RUN_DIR=runs\wubugaad_run"
CALL :normalise_path RUN_DIR
IF NOT DEFINED CHECKPOINT_OUTPUT_DIR SET "CHECKPOINT_OUTPUT_DIR=!RUN_DIR!\!PHASE!"
CALL :normalise_path CHECKPOINT_OUTPUT_DIR
IF /I NOT "!LOAD_CHECKPOINT!"=="auto" CALL :normalise_path LOAD_CHECKPOINT

IF DEFINED LOAD_CHECKPOINT GOTO :launch
IF "!PREVIOUS_PHASE!"=="" GOTO :launch
SET "PREVIOUS_BEST=!RUN_DIR!\!PREVIOUS_PHASE!\!BEST_NAME!"
SET "PREVIOUS_LAST=!RUN_DIR!\!PREVIOUS_PHASE!\!LAST_NAME!"
IF EXIST "!PREVIOUS_BEST!" SET "LOAD_CHECKPOINT=!PREVIOUS_BEST!"
IF DEFINED LOAD_CHECKPOINT GOTO :launch
IF EXIST "!PREVIOUS_LAST!" SET "LOAD_CHECKPOINT=!PREVIOUS_LAST!"
IF DEFINED LOAD_CHECKPOINT ECHO note: !PREVIOUS_PHASE! has no best checkpoint; starting from its last one
IF DEFINED LOAD_CHECKPOINT GOTO :launch
ECHO ERROR: !PHASE! starts from !PREVIOUS_PHASE!'s best checkpoint, but there is none at 1>&2
ECHO        "!PREVIOUS_BEST!" 1>&2
ECHO        Run draftPY\!PREVIOUS_LAUNCHER! first, or start from another checkpoint: set it on the 1>&2
ECHO        LOAD_CHECKPOINT line of draftPY\!PHASE_FILE! - the one in run_vaegan.bat is not used here. 1>&2
SET "EXIT_CODE=3"
GOTO :finish

:launch
ECHO === !PHASE!: checkpoints in "!CHECKPOINT_OUTPUT_DIR!"
CALL "%HERE%..\run_vaegan.bat"
SET "EXIT_CODE=!ERRORLEVEL!"
GOTO :finish

:usage
ECHO run_phase.bat is called by the phase launchers (draftPY\phase1_reconstruction.bat, ...): 1>&2
ECHO start one of those instead. 1>&2
SET "EXIT_CODE=2"
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

:normalise_path
REM CALL :normalise_path NAME: NAME's value as a full path (a relative one from the current folder, the
REM project root) without trailing backslashes; a drive root D:\ becomes D:\. (see below).
IF NOT DEFINED %~1 GOTO :EOF
FOR %%I IN ("!%~1!") DO SET "%~1=%%~fI"
CALL :strip_trailing_backslashes %~1
IF "!%~1:~-1!"==":" SET "%~1=!%~1!\."
GOTO :EOF

:strip_trailing_backslashes
REM CALL :strip_trailing_backslashes NAME: so that "!NAME!" on a command line never ends in \", which
REM Windows reads as an escaped quote (the argument would swallow every later flag).
IF NOT DEFINED %~1 GOTO :EOF
IF NOT "!%~1:~-1!"=="\" GOTO :EOF
SET "%~1=!%~1:~0,-1!"
GOTO :strip_trailing_backslashes
