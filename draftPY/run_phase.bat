@ECHO OFF
REM Shared body of the phase launchers (draftPY\phase*.bat; Linux twin: run_phase.sh).
REM
REM     CALL run_phase.bat PHASE [PREVIOUS_PHASE PREVIOUS_LAUNCHER]
REM
REM Called by a phase launcher after it SET its settings. One run folder RUN_DIR (default
REM runs\wubugaad_run at the project root) holds one checkpoint sub-folder per phase (RUN_DIR\PHASE).
REM Unless LOAD_CHECKPOINT is set, the phase starts from the previous phase's best checkpoint (its last
REM one when no best was written); when the previous phase has no checkpoint at all it stops with exit
REM code 3 and names the launcher to run first. Then run_vaegan.bat runs; its exit code is ours.

setlocal EnableExtensions
SET "PHASE=%~1"
SET "PREVIOUS_PHASE=%~2"
SET "PREVIOUS_LAUNCHER=%~3"
SET "HERE=%~dp0"
REM checkpoint names: wubugaad.checkpoint.checkpoint_name("best") / ("last")
SET "BEST_NAME=wubugaad_hybridgen_ckpt_v01_best.pt"
SET "LAST_NAME=wubugaad_hybridgen_ckpt_v01_last.pt"

IF NOT DEFINED RUN_DIR SET "RUN_DIR=%HERE%..\runs\wubugaad_run"
IF NOT DEFINED CHECKPOINT_OUTPUT_DIR SET "CHECKPOINT_OUTPUT_DIR=%RUN_DIR%\%PHASE%"

IF DEFINED LOAD_CHECKPOINT GOTO :launch
IF "%PREVIOUS_PHASE%"=="" GOTO :launch
SET "PREVIOUS_BEST=%RUN_DIR%\%PREVIOUS_PHASE%\%BEST_NAME%"
SET "PREVIOUS_LAST=%RUN_DIR%\%PREVIOUS_PHASE%\%LAST_NAME%"
IF EXIST "%PREVIOUS_BEST%" SET "LOAD_CHECKPOINT=%PREVIOUS_BEST%"
IF DEFINED LOAD_CHECKPOINT GOTO :launch
IF EXIST "%PREVIOUS_LAST%" SET "LOAD_CHECKPOINT=%PREVIOUS_LAST%"
IF DEFINED LOAD_CHECKPOINT ECHO note: %PREVIOUS_PHASE% has no best checkpoint; starting from its last one
IF DEFINED LOAD_CHECKPOINT GOTO :launch
ECHO ERROR: %PHASE% starts from %PREVIOUS_PHASE%'s best checkpoint, but there is none at 1>&2
ECHO        "%PREVIOUS_BEST%" 1>&2
ECHO        Run draftPY\%PREVIOUS_LAUNCHER% first, or SET LOAD_CHECKPOINT=path\to\checkpoint.pt 1>&2
IF /I "%PAUSE_AT_END%"=="true" PAUSE
endlocal & exit /b 3

:launch
ECHO === %PHASE%: checkpoints in %CHECKPOINT_OUTPUT_DIR%
CALL "%HERE%..\run_vaegan.bat"
endlocal & exit /b %ERRORLEVEL%
